// Test and bench infrastructure for the overlay path:
//   a wireguard-go peer in its own namespace (WireguardGoPeer), a kernel-TCP HTTP file server in that
//   namespace, and a real `lattice sandbox start` process joined to the peer with --wg-config.
// Used by interop.e2e.test.ts and overlay.bench.ts so both measure exactly the same path.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COMPILE_CACHE, DATAPATH_NODE_FLAGS } from '../../cli/harness.ts';
import type { WireguardGoPeer } from '../../wireguard/testing/wireguard-go-peer.ts';

const run = promisify(execFile);

export const OUR_OVERLAY = '10.99.0.1';
export const THEIR_OVERLAY = '10.99.0.2';
export const OUR_OVERLAY6 = 'fd99::1';
export const THEIR_OVERLAY6 = 'fd99::2';
export const HTTP_PORT = 8000;

export async function wgKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = (await run('wg', ['genkey'])).stdout.trim();
  const publicKey = await new Promise<string>((resolve, reject) => {
    const c = execFile('wg', ['pubkey'], (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
    c.stdin?.end(`${privateKey}\n`);
  });
  return { privateKey, publicKey };
}

export async function sha256File(path: string, limit?: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, limit === undefined ? {} : { end: limit - 1 }))
    h.update(c as Buffer);
  return h.digest('hex');
}

/** Starts the HTTP file server on the kernel's TCP inside the peer's namespace; returns a stopper. */
export async function startNamespaceHttpServer(
  peer: WireguardGoPeer,
  file: string,
  host = THEIR_OVERLAY,
): Promise<() => void> {
  const server = spawn(
    'ip',
    [
      'netns',
      'exec',
      peer.ns,
      process.execPath,
      join(import.meta.dirname, 'http-file-server.ts'),
      host,
      String(HTTP_PORT),
      file,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await once(server.stdout!, 'data');
  return () => {
    server.stdin?.end();
    server.kill();
  };
}

export interface RunningDatapath {
  proc: ChildProcess;
  proxy: string;
  health: string;
  stop(): Promise<void>;
}

/**
 * Runs `lattice sandbox start ARGS` as the container does (the `lattice` wrapper's V8 flags and
 * compile cache) and waits for its `ready` line. Without those the process is another one: a 16 MiB
 * young generation and the TypeScript stripper loaded, ~20–40 MiB more RSS than the Pod runs with.
 */
export async function startDatapath(args: string[], nodeFlags: string[] = []): Promise<RunningDatapath> {
  const main = join(import.meta.dirname, '../../cli/main.ts');
  const proc = spawn(
    process.execPath,
    [...DATAPATH_NODE_FLAGS, ...nodeFlags, main, 'sandbox', 'start', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { NODE_COMPILE_CACHE: COMPILE_CACHE, ...process.env },
    },
  );
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  let out = '';
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`datapath not ready: ${stderr}`)), 20_000);
    proc.stdout?.on('data', (d) => {
      out += String(d);
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.event === 'ready') {
          clearTimeout(timer);
          resolve(j);
        }
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`datapath exited ${code}: ${stderr}`));
    });
  });
  return {
    proc,
    proxy: String(ready.proxy),
    health: String(ready.health),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * A wg-quick file for our side: our key and overlay address, the peer reached at its namespace end.
 * With `ipv6`, both sides also get an IPv6 overlay address (OUR_OVERLAY6 / THEIR_OVERLAY6).
 */
export function writeWgConfig(path: string, privateKey: string, peer: WireguardGoPeer, ipv6 = false): void {
  const ours = ipv6 ? `${OUR_OVERLAY}/32, ${OUR_OVERLAY6}/128` : `${OUR_OVERLAY}/32`;
  const theirs = ipv6 ? `${THEIR_OVERLAY}/32, ${THEIR_OVERLAY6}/128` : `${THEIR_OVERLAY}/32`;
  writeFileSync(
    path,
    `[Interface]\nPrivateKey = ${privateKey}\nAddress = ${ours}\n\n[Peer]\nPublicKey = ${peer.publicKey}\nEndpoint = ${peer.nsAddress}:${peer.listenPort}\nAllowedIPs = ${theirs}\n`,
    { mode: 0o600 },
  );
}

/** Gives the namespace's WireGuard interface its IPv6 overlay address and lets our IPv6 address in. */
export async function enableOverlayIpv6(peer: WireguardGoPeer, ourPublicKey: string): Promise<void> {
  await peer.exec('ip', ['-6', 'addr', 'replace', `${THEIR_OVERLAY6}/64`, 'dev', peer.ifname, 'nodad']);
  // `wg set ... allowed-ips` replaces the list: name both families.
  await peer.exec('wg', [
    'set',
    peer.ifname,
    'peer',
    ourPublicKey,
    'allowed-ips',
    `${OUR_OVERLAY}/32,${OUR_OVERLAY6}/128`,
  ]);
}

/** A TCP port free on host loopback right now (bound and released). */
export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}
