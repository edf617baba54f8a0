// Test infrastructure: a real, current nats-server (built by e2e/cluster/build-tools.sh) in operator
// mode, trusting the control plane's operator key, with JetStream. The cluster's own nats-server
// runs without auth, which cannot show permission isolation; this one does. Stop/start keep the
// port and data so outage tests can bring "the same" server back.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../../e2e/cluster/ports.ts';
import { cacheDir, parseVersions } from '../../../e2e/cluster/tools.ts';
import { serverConfig, type Trust } from '../nats-trust.ts';

export function natsServerPath(): string {
  const script = readFileSync(join(import.meta.dirname, '../../../e2e/cluster/build-tools.sh'), 'utf8');
  const v = process.env.NATS_VERSION ?? parseVersions(script).NATS;
  return join(cacheDir(), 'bin', `nats-server-${v}`, 'nats-server');
}

export interface OperatorNats {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop and remove the data directory */
  destroy(): Promise<void>;
}

function waitPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = netConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nats-server did not listen on ${port} within ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startOperatorNats(trust: Trust): Promise<OperatorNats> {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-cp-nats-'));
  const [port] = await freePorts(1);
  mkdirSync(join(dir, 'jwt'), { recursive: true });
  writeFileSync(
    join(dir, 'nats.conf'),
    serverConfig(
      trust,
      { host: '127.0.0.1', port, storeDir: join(dir, 'js'), resolverDir: join(dir, 'jwt') },
      new Date(),
    ),
    { mode: 0o600 },
  );
  const bin = natsServerPath();
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child) return;
    const c = spawn(bin, ['-c', join(dir, 'nats.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d) => {
      err = (err + d).slice(-4000);
    });
    c.once('exit', () => {
      if (child === c) child = undefined;
    });
    child = c;
    await waitPort(port, 10_000).catch((e) => {
      c.kill('SIGKILL');
      throw new Error(`${(e as Error).message}: ${err}`);
    });
  };
  const stop = async () => {
    const c = child;
    if (!c) return;
    child = undefined;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
