// Test and benchmark harness: runs the real `lattice sandbox start` as a child process on free
// loopback ports and gives back where it listens. Used by the e2e tests and the benchmarks only.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = new URL('./main.ts', import.meta.url).pathname;

export interface RunningDatapath {
  readonly proc: ChildProcess;
  readonly proxy: { host: string; port: number };
  readonly health: { host: string; port: number };
  readonly forwards: string[];
  readonly auditPath: string;
  readonly dir: string;
  readonly stderr: () => string;
  /** SIGTERM, wait for exit (kill after 5 s); returns the exit code */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

function split(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}

/**
 * Node flags the datapath runs with (as in its container): a small young generation, since the
 * datapath's allocations are short-lived buffers and its memory budget is 64 MiB idle; and an old
 * generation that may grow by half its live size before a mark-compact, not by V8's dynamic factor
 * (up to 4×): with ~12 MiB live, the overlay path's promoted garbage grew the heap to ~35 MiB before
 * the second mark-compact (docs/datapath.md, Memory). Keep in step with the `lattice` wrapper.
 */
export const DATAPATH_NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--v8-pool-size=1',
  '--heap-growing-percent=50',
];

/** Where stripped TypeScript is cached between runs (the image warms it at build time). */
export const COMPILE_CACHE = join(process.env.HOME ?? tmpdir(), '.cache', 'lattice', 'node-compile-cache');

/**
 * Fills the compile cache the way the container image does at build time (`sandbox start --help`
 * imports every module `sandbox start` uses), so a measured start does not strip TypeScript.
 */
export async function warmCompileCache(): Promise<void> {
  await run(process.execPath, [...DATAPATH_NODE_FLAGS, MAIN, 'sandbox', 'start', '--help'], 60_000, {
    NODE_COMPILE_CACHE: COMPILE_CACHE,
  });
}

/** Starts the datapath with `args` (plus --name/--proxy-addr/--health-addr/--audit-path defaults). */
// Datapaths still running when the test process exits (a failed test whose after() never ran, a
// start that timed out) are killed with it, so a failure can never leave a child that hangs the run.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startDatapath(
  args: string[],
  env: Record<string, string> = {},
  /** a command the datapath runs under, e.g. ['ip', 'netns', 'exec', NS, 'setpriv', '--reuid=…'] */
  wrap: readonly string[] = [],
): Promise<RunningDatapath> {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-dp-'));
  const has = (f: string) => args.some((a) => a === f || a.startsWith(`${f}=`));
  const auditPath = join(dir, 'audit.jsonl');
  const full = [
    ...(has('--name') ? [] : ['--name', 'test']),
    ...(has('--proxy-addr') ? [] : ['--proxy-addr', '127.0.0.1:0']),
    ...(has('--health-addr') ? [] : ['--health-addr', '127.0.0.1:0']),
    ...(has('--audit-path') ? [] : ['--audit-path', auditPath]),
    ...args,
  ];
  const argv = [process.execPath, ...DATAPATH_NODE_FLAGS, MAIN, 'sandbox', 'start', ...full];
  const [cmd, ...rest] = [...wrap, ...argv];
  const proc = spawn(cmd, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { NODE_COMPILE_CACHE: COMPILE_CACHE, ...process.env, ...env },
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`datapath did not start in 15 s: ${err}`));
    }, 15_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`datapath exited with ${code} before ready: ${err}`));
    });
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  return {
    proc,
    proxy: split(ready.proxy as string),
    health: split(ready.health as string),
    forwards: ready.forwards as string[],
    auditPath: has('--audit-path') ? (ready.audit as string) : auditPath,
    dir,
    stderr: () => err,
    stop,
    exited,
  };
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function readAudit(path: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** A TCP server on a free loopback port. */
export async function tcpServer(
  onConn: (s: Socket) => void,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Minimal SOCKS5 client for exact reply codes: returns the reply code and the connected socket. */
export function socks5Connect(
  proxy: { host: string; port: number },
  target: { atyp: 'ipv4' | 'ipv6' | 'domain'; host: string | Buffer; port: number },
  username?: string,
): Promise<{ code: number; sock: Socket }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(proxy.port, proxy.host);
    let buf = Buffer.alloc(0);
    let stage = 0;
    const addr = (): Buffer => {
      if (target.atyp === 'domain') {
        const name = Buffer.isBuffer(target.host) ? target.host : Buffer.from(target.host);
        return Buffer.concat([Buffer.from([3, name.length]), name]);
      }
      if (target.atyp === 'ipv4') return Buffer.from([1, ...String(target.host).split('.').map(Number)]);
      return Buffer.concat([Buffer.from([4]), target.host as Buffer]);
    };
    const port = Buffer.alloc(2);
    port.writeUInt16BE(target.port);
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`proxy closed during handshake (stage ${stage})`)));
    sock.on('connect', () => sock.write(Buffer.from(username === undefined ? [5, 1, 0] : [5, 1, 2])));
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2) {
        buf = buf.subarray(2);
        if (username !== undefined) {
          const u = Buffer.from(username);
          sock.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([1, 0x78])]));
          stage = 1;
        } else {
          sock.write(Buffer.concat([Buffer.from([5, 1, 0]), addr(), port]));
          stage = 2;
        }
      }
      if (stage === 1 && buf.length >= 2) {
        buf = buf.subarray(2);
        sock.write(Buffer.concat([Buffer.from([5, 1, 0]), addr(), port]));
        stage = 2;
      }
      if (stage === 2 && buf.length >= 2) {
        const need = buf[3] === 4 ? 22 : 10;
        if (buf[1] !== 0 || buf.length >= need) {
          sock.removeListener('data', onData);
          sock.removeAllListeners('close');
          sock.removeListener('error', reject);
          sock.on('error', () => {});
          const rest = buf.subarray(need);
          if (rest.length > 0) sock.unshift(rest);
          resolve({ code: buf[1], sock });
        }
      }
    };
    sock.on('data', onData);
  });
}

/** Runs a command, returning exit code and output. */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
