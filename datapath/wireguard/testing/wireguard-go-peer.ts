// Test infrastructure: a real WireGuard peer (Debian `wireguard-go` on a TUN device, configured with
// `wg`) inside a network namespace of its own, reached from the host over a veth pair. Used by the
// WireGuard interop test and by the netstack's tests across the tunnel. Names carry a random suffix so
// parallel tests never collide; close() removes the process, the namespace and the veth pair.
//
//   host (our process)  vethHost 100.64.X.Y+1/30, fdXX::1/64  ──  vethNs 100.64.X.Y+2/30, fdXX::2/64  (netns)
//                                                                   wg interface: overlay 10.99.0.2/24, fd99::2/64
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WireguardGoPeerOptions {
  /** Our device's public key (base64) and the overlay address the kernel side routes to us. */
  ourPublicKey: string;
  ourOverlay?: string;
  /** The kernel side's own overlay address (default 10.99.0.2) and prefix length (24). */
  theirOverlay?: string;
  /** IPv6 overlay addresses (default fd99::1 for us, fd99::2/64 for the kernel side). */
  ourOverlay6?: string;
  theirOverlay6?: string;
  overlayPrefix?: number;
  listenPort?: number;
}

export class WireguardGoPeer {
  readonly ns: string;
  readonly ifname: string;
  readonly vethHost: string;
  readonly vethNs: string;
  /** Address of our (host) end of the veth pair: what our UDP endpoint is on, seen from the namespace. */
  readonly hostAddress: string;
  readonly nsAddress: string;
  readonly hostAddress6: string;
  readonly nsAddress6: string;
  readonly overlay: string;
  readonly ourOverlay: string;
  readonly overlay6: string;
  readonly ourOverlay6: string;
  readonly privateKey: string;
  readonly publicKey: string;
  listenPort: number;
  readonly #opts: WireguardGoPeerOptions;
  readonly #dir: string;
  #proc: ChildProcess | null = null;
  #ourEndpoint: string | null = null;
  #pskFile: string | null = null;

  private constructor(opts: WireguardGoPeerOptions, privateKey: string, publicKey: string) {
    const id = randomBytes(3).toString('hex');
    this.ns = `lwg${id}`;
    this.ifname = `lwg${id}`;
    this.vethHost = `lwg${id}h`;
    this.vethNs = `lwg${id}n`;
    const b = 64 + (randomBytes(1)[0] & 63);
    const c = randomBytes(1)[0];
    const d = randomBytes(1)[0] & 0xfc;
    this.hostAddress = `100.${b}.${c}.${d + 1}`;
    this.nsAddress = `100.${b}.${c}.${d + 2}`;
    // Canonical form (no leading zeros in a group), as the kernel and Node print it back.
    const net6 = `fd6c:${Number.parseInt(id.slice(0, 4), 16).toString(16)}:${Number.parseInt(id.slice(4), 16).toString(16)}`;
    this.hostAddress6 = `${net6}::1`;
    this.nsAddress6 = `${net6}::2`;
    this.overlay = opts.theirOverlay ?? '10.99.0.2';
    this.ourOverlay = opts.ourOverlay ?? '10.99.0.1';
    this.overlay6 = opts.theirOverlay6 ?? 'fd99::2';
    this.ourOverlay6 = opts.ourOverlay6 ?? 'fd99::1';
    this.listenPort = opts.listenPort ?? 51820;
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.#opts = opts;
    this.#dir = mkdtempSync(join(tmpdir(), 'lattice-wg-'));
  }

  /** Creates the namespace and veth pair and starts wireguard-go; call close() in t.after / finally. */
  static async create(opts: WireguardGoPeerOptions): Promise<WireguardGoPeer> {
    const priv = (await run('wg', ['genkey'])).stdout.trim();
    const pub = await pipe('wg', ['pubkey'], priv);
    const p = new WireguardGoPeer(opts, priv, pub);
    try {
      await p.#setupNetwork();
      await p.start();
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  async #setupNetwork(): Promise<void> {
    await run('ip', ['netns', 'add', this.ns]);
    await run('ip', ['link', 'add', this.vethHost, 'type', 'veth', 'peer', 'name', this.vethNs]);
    await run('ip', ['link', 'set', this.vethNs, 'netns', this.ns]);
    await run('ip', ['addr', 'add', `${this.hostAddress}/30`, 'dev', this.vethHost]);
    await run('ip', ['-6', 'addr', 'add', `${this.hostAddress6}/64`, 'dev', this.vethHost, 'nodad']);
    await run('ip', ['link', 'set', this.vethHost, 'up']);
    await this.exec('ip', ['addr', 'add', `${this.nsAddress}/30`, 'dev', this.vethNs]);
    await this.exec('ip', ['-6', 'addr', 'add', `${this.nsAddress6}/64`, 'dev', this.vethNs, 'nodad']);
    await this.exec('ip', ['link', 'set', this.vethNs, 'up']);
    await this.exec('ip', ['link', 'set', 'lo', 'up']);
  }

  /** Runs a command inside the namespace. */
  async exec(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', this.ns, cmd, ...args], { timeout: timeoutMs });
  }

  /** Tells the kernel side where we are (our UDP endpoint) and configures its peer entry for us. */
  async setOurEndpoint(address: string, port: number): Promise<void> {
    this.#ourEndpoint = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    await this.#configurePeer();
  }

  /** Sets (and keeps across restarts) a preshared key for our peer entry. */
  async setPresharedKey(psk: string): Promise<void> {
    this.#pskFile = join(this.#dir, 'psk');
    writeFileSync(this.#pskFile, `${psk}\n`, { mode: 0o600 });
    await this.#configurePeer();
  }

  async #configurePeer(): Promise<void> {
    const allowed = `${this.ourOverlay}/32,${this.ourOverlay6}/128`;
    const args = ['set', this.ifname, 'peer', this.#opts.ourPublicKey, 'allowed-ips', allowed];
    if (this.#ourEndpoint) args.push('endpoint', this.#ourEndpoint);
    if (this.#pskFile) args.push('preshared-key', this.#pskFile);
    await this.exec('wg', args);
  }

  /** Starts wireguard-go (again, after stop(): same key; a new listen port when given). */
  async start(listenPort = this.listenPort): Promise<void> {
    this.listenPort = listenPort;
    const proc = spawn('ip', ['netns', 'exec', this.ns, 'wireguard-go', '-f', this.ifname], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'error', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
    });
    let stderr = '';
    proc.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    this.#proc = proc;
    const sock = `/var/run/wireguard/${this.ifname}.sock`;
    for (let i = 0; i < 100 && !existsSync(sock); i++) {
      if (proc.exitCode !== null) throw new Error(`wireguard-go exited ${proc.exitCode}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!existsSync(sock)) throw new Error(`wireguard-go did not create ${sock}: ${stderr}`);
    const keyFile = join(this.#dir, 'private.key');
    writeFileSync(keyFile, `${this.privateKey}\n`, { mode: 0o600 });
    await this.exec('wg', ['set', this.ifname, 'private-key', keyFile, 'listen-port', String(listenPort)]);
    await this.#configurePeer();
    await this.exec('ip', [
      'addr',
      'add',
      `${this.overlay}/${this.#opts.overlayPrefix ?? 24}`,
      'dev',
      this.ifname,
    ]);
    await this.exec('ip', ['-6', 'addr', 'add', `${this.overlay6}/64`, 'dev', this.ifname, 'nodad']);
    await this.exec('ip', ['link', 'set', this.ifname, 'mtu', '1420', 'up']);
  }

  /** Stops wireguard-go (its TUN device and control socket disappear with it). */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    // The child of `ip netns exec` is wireguard-go itself (exec), so its exit is the daemon's exit.
    for (let i = 0; i < 40 && existsSync(`/var/run/wireguard/${this.ifname}.sock`); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** `wg show IF latest-handshakes` for our key: unix seconds, 0 when none. */
  async latestHandshake(): Promise<number> {
    const { stdout } = await this.exec('wg', ['show', this.ifname, 'latest-handshakes']);
    const line = stdout.split('\n').find((l) => l.startsWith(this.#opts.ourPublicKey));
    return line ? Number(line.split('\t')[1]) : 0;
  }

  /** `wg show IF endpoints` for our key, as wireguard-go sees us. */
  async ourEndpointSeen(): Promise<string> {
    const { stdout } = await this.exec('wg', ['show', this.ifname, 'endpoints']);
    const line = stdout.split('\n').find((l) => l.startsWith(this.#opts.ourPublicKey));
    return line ? line.split('\t')[1] : '';
  }

  /** Pings `address` from inside the namespace; true when every echo was answered. */
  async ping(address: string, count = 3): Promise<boolean> {
    try {
      await this.exec('ping', ['-c', String(count), '-i', '0.2', '-W', '2', address], 30_000);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops everything and removes the namespace, the veth pair and the key file. Idempotent. */
  async close(): Promise<void> {
    await this.stop().catch(() => {});
    await run('ip', ['link', 'del', this.vethHost]).catch(() => {});
    await run('ip', ['netns', 'del', this.ns]).catch(() => {});
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

async function pipe(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
    child.stdin?.end(`${input}\n`);
  });
}
