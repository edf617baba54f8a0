// gVisor mode, the edge: the agent's network namespace with a TUN device whose packets are carried
// to and from the datapath by socat over a connected UDP pair on loopback (Node cannot open a TUN
// device itself: attaching to one is an ioctl, TUNSETIFF; see docs/gvisor.md), and the agent
// process (runsc, or a plain process) inside that namespace.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AgentNetwork,
  agentNetwork,
  type GvisorSettings,
  namespaceSetup,
  ociSpec,
  runscArgv,
} from './plan.ts';

export class GvisorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GvisorError';
  }
}

function sh(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(argv[0], argv.slice(1), { timeout: 10_000 }, (err, _out, stderr) =>
      err ? reject(new GvisorError(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve(),
    ),
  );
}

const bindUdp = async (port = 0): Promise<UdpSocket> => {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => {
      s.removeListener('error', reject);
      resolve();
    });
  });
  return s;
};

/** The agent's namespace and its TUN link into the datapath. */
export class AgentNamespace {
  readonly net: AgentNetwork;
  onPacket: (packet: Buffer) => void = () => {};
  #udp: UdpSocket | null = null;
  #socat: ChildProcess | null = null;
  #socatPort = 0;
  #created = false;
  packetsIn = 0;
  packetsOut = 0;

  constructor() {
    this.net = agentNetwork(randomBytes(4).toString('hex'));
  }

  async create(): Promise<void> {
    const n = this.net;
    this.#udp = await bindUdp();
    // socat's port: reserved by binding and releasing it (socat binds it a moment later; a lost
    // race shows up as socat exiting, reported below)
    const probe = await bindUdp();
    this.#socatPort = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const udp = this.#udp;
    udp.on('message', (m, from) => {
      // a connected pair: only socat's datagrams are packets of the agent
      if (from.port !== this.#socatPort || from.address !== '127.0.0.1') return;
      this.packetsIn++;
      this.onPacket(m);
    });
    // --pdeathsig: if the datapath dies, so does the link (the agent is left with no way out)
    this.#socat = spawn(
      'setpriv',
      [
        '--pdeathsig=KILL',
        'socat',
        '-b',
        '65536',
        `TUN,tun-name=${n.tun},tun-type=tun,iff-no-pi`,
        `UDP:127.0.0.1:${udp.address().port},bind=127.0.0.1:${this.#socatPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let socatErr = '';
    this.#socat.stderr!.on('data', (d) => (socatErr += d));
    const socatExit = new Promise<never>((_, reject) => {
      this.#socat!.once('error', (e) => reject(new GvisorError(`cannot run socat: ${e.message}`)));
      this.#socat!.once('exit', (code) =>
        reject(new GvisorError(`socat exited (${code}): ${socatErr.trim()}`)),
      );
    });
    socatExit.catch(() => {});
    // wait for the device
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await Promise.race([
        sh(['ip', 'link', 'show', n.tun]).then(
          () => true,
          () => false,
        ),
        socatExit,
      ]);
      if (ok) break;
      if (Date.now() > deadline)
        throw new GvisorError(`TUN device ${n.tun} did not appear: ${socatErr.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await sh(['ip', 'netns', 'add', n.netns]);
    this.#created = true;
    await sh(['ip', 'link', 'set', n.tun, 'netns', n.netns]);
    for (const c of namespaceSetup(n)) await sh(c);
  }

  send(packet: Buffer): void {
    if (this.#udp === null) return;
    this.packetsOut++;
    this.#udp.send(packet, this.#socatPort, '127.0.0.1');
  }

  get linkAlive(): boolean {
    return this.#socat !== null && this.#socat.exitCode === null && this.#socat.signalCode === null;
  }

  async destroy(): Promise<void> {
    // whatever still runs in the agent's namespace (a plain-process agent's children outlive it;
    // runsc's sandbox is gone by now) is killed: nothing of the agent survives the datapath
    if (this.#created) {
      const pids = await new Promise<string>((resolve) =>
        execFile('ip', ['netns', 'pids', this.net.netns], { timeout: 5000 }, (_e, out) =>
          resolve(String(out ?? '')),
        ),
      );
      for (const pid of pids.split('\n').filter((l) => /^[0-9]+$/.test(l))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    this.#socat?.kill('SIGTERM');
    this.#socat = null;
    this.#udp?.close();
    this.#udp = null;
    if (this.#created) await sh(['ip', 'netns', 'del', this.net.netns]).catch(() => {});
    this.#created = false;
  }
}

export type AgentState =
  | { state: 'starting' }
  | { state: 'running'; pid: number | null; startedAt: string }
  | { state: 'exited'; exitCode: number | null; signal: string | null; startedAt: string; exitedAt: string };

/** The agent process inside the namespace; its output becomes log lines. */
export class AgentProcess {
  status: AgentState = { state: 'starting' };
  readonly #g: GvisorSettings;
  readonly #ns: AgentNamespace;
  readonly #onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  readonly #onExit: (s: AgentState) => void;
  #proc: ChildProcess | null = null;
  #dir: string | null = null;
  #id = '';
  readonly exited: Promise<void>;
  #resolveExited: () => void = () => {};

  constructor(
    g: GvisorSettings,
    ns: AgentNamespace,
    onLine: (stream: 'stdout' | 'stderr', line: string) => void,
    onExit: (s: AgentState) => void,
  ) {
    this.#g = g;
    this.#ns = ns;
    this.#onLine = onLine;
    this.#onExit = onExit;
    this.exited = new Promise((r) => (this.#resolveExited = r));
  }

  start(): void {
    const g = this.#g;
    const n = this.#ns.net;
    let argv: string[];
    if (g.runtime === 'runsc') {
      this.#dir = mkdtempSync(join(tmpdir(), 'lattice-gvisor-'));
      const bundle = join(this.#dir, 'bundle');
      const state = join(this.#dir, 'state');
      this.#id = `lattice-${n.netns.slice(-8)}`;
      mkdirSync(bundle, { mode: 0o700 });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociSpec(g, 'agent')), { mode: 0o600 });
      argv = runscArgv(state, bundle, this.#id);
    } else {
      // no gVisor: the agent as a plain non-root process chrooted into the rootfs (setpriv drops
      // to the agent uid after chroot). Not an isolation boundary; the network path is the same.
      argv = ['chroot', `--userspec=${g.uid}:${g.uid}`, g.rootfs, g.binary, ...g.args];
    }
    const p = spawn('ip', ['netns', 'exec', n.netns, 'setpriv', '--pdeathsig=KILL', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    this.#proc = p;
    const startedAt = new Date().toISOString();
    this.status = { state: 'running', pid: p.pid ?? null, startedAt };
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = '';
      p[stream]!.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          this.#onLine(stream, buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        if (buf.length > 8192) {
          this.#onLine(stream, buf);
          buf = '';
        }
      });
    }
    p.once('error', (e) => this.#onLine('stderr', `cannot start agent: ${e.message}`));
    // 'exit', not 'close': processes the agent left behind may keep its stdout open
    p.once('exit', (code, signal) => {
      this.status = {
        state: 'exited',
        exitCode: code,
        signal,
        startedAt,
        exitedAt: new Date().toISOString(),
      };
      this.#proc = null;
      this.#onExit(this.status);
      this.#resolveExited();
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; removes runsc's state. */
  async stop(graceMs = 3000): Promise<void> {
    const p = this.#proc;
    if (p !== null) {
      if (this.#g.runtime === 'runsc' && this.#dir !== null)
        await sh(['runsc', `--root=${join(this.#dir, 'state')}`, 'kill', this.#id, 'SIGTERM']).catch(
          () => {},
        );
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(t);
    }
    if (this.#g.runtime === 'runsc' && this.#dir !== null) {
      await sh(['runsc', `--root=${join(this.#dir, 'state')}`, 'delete', '-force', this.#id]).catch(() => {});
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}
