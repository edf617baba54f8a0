// The cluster supervisor: one detached process per cluster that is the parent of etcd,
// kube-apiserver, kube-controller-manager and nats-server.
//   node e2e/cluster/supervisor.ts <state dir>
// - Each component runs under `setpriv --pdeathsig KILL`, so it dies when the supervisor dies,
//   however the supervisor dies (SIGKILL included).
// - The supervisor watches its owner (the test runner or test process that started the cluster)
//   and stops everything and removes the state dir when the owner is gone, however it ended.
// - A control socket (HTTP on <dir>/supervisor.sock) serves status, restart and stop.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { type ComponentName, type ComponentSpec, layout } from './config.ts';
import { ClusterError, ComponentExitedError, HealthTimeoutError, PortTakenError } from './errors.ts';
import { logTail, portInUseFromLog, waitHealthy } from './health.ts';
import { type Plan, readJson, type SupervisorState, writeJson } from './plan.ts';
import { assertPortFree } from './ports.ts';
import { alive, idOf, type ProcId, selfId, writePidFile } from './proc.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node e2e/cluster/supervisor.ts <state dir>');
  process.exit(2);
}
const L = layout(dir);
const plan = readJson<Plan>(L.plan);
if (!plan) {
  console.error(`supervisor: no plan at ${L.plan}`);
  process.exit(2);
}
const log = (msg: string) => console.log(`${new Date().toISOString()} supervisor: ${msg}`);

interface Running {
  spec: ComponentSpec;
  child: ChildProcess;
  exit?: string;
  exited: Promise<void>;
  expectedExit: boolean;
}

const running = new Map<ComponentName, Running>();
const state: SupervisorState = { phase: 'starting', components: {} };
for (const group of plan.groups) for (const s of group) state.components[s.name] = { phase: 'pending' };
const save = () => writeJson(L.state, state);
const setPhase = (
  name: ComponentName,
  phase: NonNullable<SupervisorState['components'][ComponentName]>['phase'],
) => {
  const c = state.components[name] ?? { phase };
  c.phase = phase;
  state.components[name] = c;
  save();
};

function logFile(name: ComponentName): string {
  return `${L.logs}/${name}.log`;
}

async function startComponent(spec: ComponentSpec): Promise<void> {
  for (const { flag, port } of spec.ports) await assertPortFree(spec.name, flag, port);
  setPhase(spec.name, 'starting');
  const out = openSync(logFile(spec.name), 'a', 0o600);
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...spec.argv], {
    stdio: ['ignore', out, out],
    cwd: dir,
  });
  closeSync(out); // the child has its own copy
  let onExit = () => {};
  const r: Running = { spec, child, expectedExit: false, exited: new Promise((res) => (onExit = res)) };
  running.set(spec.name, r);
  child.once('exit', (code, sig) => {
    r.exit = sig ? `signal ${sig}` : `exit code ${code}`;
    onExit();
    if (running.get(spec.name) !== r) return; // an older run of a restarted component
    rmSync(`${L.pids}/${spec.name}.pid`, { force: true });
    state.components[spec.name] = { phase: r.expectedExit ? 'stopped' : 'exited', exit: r.exit };
    save();
    if (!r.expectedExit) log(`${spec.name} exited unexpectedly (${r.exit})`);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const id = idOf(child.pid!);
  if (id) writePidFile(`${L.pids}/${spec.name}.pid`, id);
  state.components[spec.name] = { phase: 'starting', pid: child.pid };
  save();
  const outcome = await waitHealthy(spec.health, spec.startTimeoutMs, () => r.exit);
  if (outcome.ok) {
    setPhase(spec.name, 'ready');
    log(`${spec.name} ready (pid ${child.pid})`);
    return;
  }
  const tail = logTail(logFile(spec.name));
  if (outcome.reason === 'exited') {
    const port = portInUseFromLog(
      tail,
      spec.ports.map((p) => p.port),
    );
    const taken = spec.ports.find((p) => p.port === port);
    if (taken) throw new PortTakenError(spec.name, taken.flag, taken.port);
    throw new ComponentExitedError(spec.name, outcome.error, logFile(spec.name), tail);
  }
  throw new HealthTimeoutError(
    spec.name,
    spec.health.what,
    spec.startTimeoutMs,
    outcome.error,
    logFile(spec.name),
    tail,
  );
}

async function stopComponent(name: ComponentName): Promise<void> {
  const r = running.get(name);
  if (!r) return;
  r.expectedExit = true;
  if (r.exit === undefined) {
    setPhase(name, 'stopping');
    r.child.kill('SIGTERM');
    const timer = setTimeout(() => r.child.kill('SIGKILL'), r.spec.stopGraceMs);
    await r.exited;
    clearTimeout(timer);
  }
}

async function startAll(): Promise<void> {
  for (const group of plan!.groups) await Promise.all(group.map(startComponent));
}

let stopping: Promise<void> | undefined;
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    state.phase = state.phase === 'failed' ? 'failed' : 'stopping';
    save();
    // reverse start order: clients of etcd before etcd
    for (const group of [...plan!.groups].reverse())
      await Promise.all(group.map((s) => stopComponent(s.name)));
    if (state.phase !== 'failed') state.phase = 'stopped';
    save();
  })();
  return stopping;
}

async function exitAfterStop(code: number): Promise<never> {
  await stopAll();
  server.close();
  rmSync(L.socket, { force: true });
  rmSync(L.supervisorPid, { force: true });
  if (plan!.removeOnStop && code === 0) rmSync(dir!, { recursive: true, force: true });
  log(`stopped (${code === 0 ? 'clean' : 'after a failure'})`);
  process.exit(code);
}

async function restart(name: ComponentName): Promise<void> {
  const r = running.get(name);
  if (!r) throw new ClusterError(`${name} is not part of this cluster`);
  await stopComponent(name);
  await startComponent(r.spec);
}

const server = createServer(async (req, res) => {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  try {
    const url = new URL(req.url ?? '/', 'http://supervisor');
    if (req.method === 'GET' && url.pathname === '/status') return reply(200, state);
    if (req.method === 'POST' && url.pathname.startsWith('/restart/')) {
      const name = url.pathname.slice('/restart/'.length) as ComponentName;
      await restart(name);
      return reply(200, state);
    }
    if (req.method === 'POST' && url.pathname === '/stop') {
      await stopAll();
      reply(200, state);
      res.once('finish', () => void exitAfterStop(0));
      return;
    }
    reply(404, { error: { name: 'NotFound', message: `${req.method} ${url.pathname}` } });
  } catch (err) {
    const e = err as Error;
    reply(500, { error: { name: e.name, message: e.message } });
  }
});

function watchOwner(owner: ProcId): void {
  const timer = setInterval(() => {
    if (alive(owner)) return;
    clearInterval(timer);
    log(`owner pid ${owner.pid} is gone; stopping the cluster`);
    void exitAfterStop(0);
  }, 250);
}

mkdirSync(L.pids, { recursive: true, mode: 0o700 });
writePidFile(L.supervisorPid, selfId());
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping the cluster`);
    void exitAfterStop(0);
  });
}
if (plan.owner) watchOwner(plan.owner);
save();
rmSync(L.socket, { force: true });
server.listen(L.socket);

try {
  await startAll();
  state.phase = 'ready';
  save();
  log('cluster ready');
} catch (err) {
  const e = err as Error;
  log(`start failed: ${e.message}`);
  state.phase = 'failed';
  state.error = { name: e.name, message: e.message };
  save();
  await exitAfterStop(1);
}
