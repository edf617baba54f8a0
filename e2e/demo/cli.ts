// `make demo` / `make demo-down`. First version: the local control plane, the e2e node agent
// (runs the sandboxes' Pods as local processes; test infrastructure), the LatticeSandbox
// CRD, the operator (under its own ServiceAccount and the RBAC from config/rbac, not as admin)
// serving the control plane with its operator-mode nats-server (control-plane.ts),
// the samples from config/samples, then `kubectl get sandboxes`. Everything keeps running in the
// background until `make demo-down`. State: .lattice/demo (cluster, operator pid file and log).
//   node e2e/demo/cli.ts up|down
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  globSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../cluster/index.ts';
import { downCluster, ensureCluster, exportLines, REPO_ROOT } from '../cluster/persistent.ts';
import { freePorts } from '../cluster/ports.ts';
import { alive, idOf, readPidFile, terminate, writePidFile } from '../cluster/proc.ts';
import { findTools } from '../cluster/tools.ts';
import { ensureTrustSecret, waitTcp, writeNatsConfig } from './control-plane.ts';

const STATE = join(REPO_ROOT, '.lattice', 'demo');
const CLUSTER_DIR = join(STATE, 'cluster');
const OPERATOR_PID = join(STATE, 'operator.pid');
const OPERATOR_LOG = join(STATE, 'operator.log');
const OPERATOR_MAIN = join(REPO_ROOT, 'operator', 'main.ts');
const AGENT_PID = join(STATE, 'node-agent.pid');
const AGENT_LOG = join(STATE, 'node-agent.log');
const AGENT_MAIN = join(REPO_ROOT, 'e2e', 'node-agent', 'main.ts');
const BUS_PID = join(STATE, 'bus.pid');
const BUS_LOG = join(STATE, 'bus.log');
const SERVER_URL_FILE = join(STATE, 'server-url');

const say = (msg: string) => console.log(`demo: ${msg}`);

async function must(c: Cluster, args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function crdFiles(): string[] {
  return globSync('crds/*.yaml', { cwd: REPO_ROOT })
    .map((f) => join(REPO_ROOT, f))
    .filter((f) => /^kind:\s*CustomResourceDefinition\s*$/m.test(readFileSync(f, 'utf8')))
    .sort();
}

async function installCrds(c: Cluster): Promise<boolean> {
  const files = crdFiles();
  if (files.length === 0) {
    say('no CRD in crds/ yet; skipping');
    return false;
  }
  for (const f of files) await must(c, ['apply', '--server-side', '--force-conflicts', '-f', f]);
  await must(c, ['wait', '--for=condition=Established', '--timeout=60s', ...files.flatMap((f) => ['-f', f])]);
  say(`CRDs installed: ${files.map((f) => f.slice(REPO_ROOT.length + 1)).join(', ')}`);
  return true;
}

async function waitHttp(url: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts argv in the background (own session, output to logFile), recorded in pidFile. */
function background(argv: string[], pidFile: string, logFile: string, env: NodeJS.ProcessEnv): number {
  const out = openSync(logFile, 'a', 0o600);
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', out, out],
    cwd: REPO_ROOT,
    env,
  });
  child.unref();
  closeSync(out);
  const id = idOf(child.pid!);
  if (id) writePidFile(pidFile, id);
  return child.pid!;
}

/** Runs operator/main.ts in the background as the lattice-operator ServiceAccount. */
async function startOperator(c: Cluster): Promise<void> {
  if (!existsSync(OPERATOR_MAIN)) {
    say('operator/main.ts does not exist yet; not starting an operator');
    return;
  }
  if (alive(readPidFile(OPERATOR_PID))) {
    say(`operator already running (pid ${readPidFile(OPERATOR_PID)?.pid}, log ${OPERATOR_LOG})`);
    return;
  }
  const rbac = join(REPO_ROOT, 'config', 'rbac');
  if (existsSync(join(rbac, 'kustomization.yaml'))) {
    await must(c, ['apply', '-n', 'lattice-system', '-k', rbac]);
    say('operator RBAC applied from config/rbac');
  }
  const cpRbac = join(REPO_ROOT, 'config', 'controlplane', 'rbac.yaml');
  const args = ['--kubeconfig', c.operatorKubeconfig];
  let serverURL: string | undefined;
  const nodeIP = await nodeAddress(c);
  if (existsSync(cpRbac) && nodeIP) {
    // the control plane the operator serves, with its operator-mode nats-server
    await must(c, ['apply', '-f', cpRbac]);
    const seeds = await ensureTrustSecret(c);
    const [natsPort, natsHttp, cpPort] = await freePorts(3);
    const conf = writeNatsConfig(join(STATE, 'bus'), seeds, nodeIP, natsPort, natsHttp);
    const natsPid = background([findTools().natsServer, '-c', conf], BUS_PID, BUS_LOG, process.env);
    if (!(await waitTcp(nodeIP, natsPort, 30_000))) {
      throw new Error(
        `the control plane's nats-server did not listen; last lines of ${BUS_LOG}:\n${logTail(BUS_LOG)}`,
      );
    }
    say(`control-plane bus: operator-mode nats-server nats://${nodeIP}:${natsPort} (pid ${natsPid})`);
    serverURL = `http://${nodeIP}:${cpPort}`;
    args.push(
      '--nats-url',
      `nats://${nodeIP}:${natsPort}`,
      '--control-plane-addr',
      `${nodeIP}:${cpPort}`,
      '--server-url',
      serverURL,
    );
  }
  const [probePort] = await freePorts(1);
  args.push('--probe-addr', `127.0.0.1:${probePort}`);
  const pid = background([process.execPath, OPERATOR_MAIN, ...args], OPERATOR_PID, OPERATOR_LOG, {
    ...process.env,
    LATTICE_NATS_URL: undefined,
    LATTICE_SERVER_URL: undefined,
  });
  if (await waitHttp(`http://127.0.0.1:${probePort}/readyz`, 60_000)) {
    say(`operator running (pid ${pid}, probes http://127.0.0.1:${probePort}, log ${OPERATOR_LOG})`);
    if (serverURL) {
      writeFileSync(SERVER_URL_FILE, serverURL, { mode: 0o600 });
      say(`control plane: ${serverURL}`);
    }
  } else {
    say(
      `operator did not report ready within 60 s; last lines of ${OPERATOR_LOG}:\n${logTail(OPERATOR_LOG)}`,
    );
  }
}

/** The node agent's address (its bridge), which the Pods' network namespaces can reach. */
async function nodeAddress(c: Cluster): Promise<string | undefined> {
  const r = await c.kubectl([
    'get',
    'nodes',
    '-l',
    'lattice.io/e2e-node-agent',
    '-o',
    'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}',
  ]);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** The e2e node agent (test infrastructure) runs the sandboxes' Pods as local processes. */
async function startNodeAgent(c: Cluster): Promise<void> {
  if (alive(readPidFile(AGENT_PID))) {
    say(`node agent already running (pid ${readPidFile(AGENT_PID)?.pid}, log ${AGENT_LOG})`);
    return;
  }
  const pid = background(
    [process.execPath, AGENT_MAIN, '--kubeconfig', c.adminKubeconfig],
    AGENT_PID,
    AGENT_LOG,
    process.env,
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await c.kubectl(['get', 'nodes', '-l', 'lattice.io/e2e-node-agent', '-o', 'name']);
    if (r.stdout.trim()) {
      say(`node agent running (pid ${pid}, ${r.stdout.trim()}, log ${AGENT_LOG})`);
      return;
    }
    if (!alive(readPidFile(AGENT_PID))) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  say(`node agent did not register a Node; last lines of ${AGENT_LOG}:\n${logTail(AGENT_LOG)}`);
}

async function applySamples(c: Cluster): Promise<void> {
  const samples = globSync('config/samples/*.yaml', { cwd: REPO_ROOT }).sort();
  if (samples.length === 0) {
    say('no samples in config/samples yet');
    return;
  }
  for (const s of samples) {
    const r = await c.kubectl(['apply', '-n', 'default', '-f', join(REPO_ROOT, s)]);
    say(r.code === 0 ? r.stdout.trim() : `${s} rejected: ${r.stderr.trim()}`);
  }
}

async function showSandboxes(c: Cluster, crdInstalled: boolean): Promise<void> {
  if (!crdInstalled) {
    say('`kubectl get sandboxes`: the LatticeSandbox CRD is not there yet');
    return;
  }
  // give the operator a moment to write a first status
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const r = await c.kubectl([
      'get',
      'sandboxes',
      '-A',
      '-o',
      'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}',
    ]);
    const phases = r.stdout.split('\n').slice(0, -1);
    if (r.code === 0 && phases.length > 0 && phases.every(Boolean)) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  console.log('\n$ kubectl get sandboxes -A');
  const r = await c.kubectl(['get', 'sandboxes', '-A']);
  console.log((r.code === 0 ? r.stdout : r.stderr).trimEnd());
  console.log();
}

async function up(): Promise<void> {
  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  const t = Date.now();
  const { cluster, started } = await ensureCluster(CLUSTER_DIR);
  say(
    started
      ? `control plane started in ${((Date.now() - t) / 1000).toFixed(1)}s (${cluster.apiServerURL})`
      : `control plane already running (${cluster.apiServerURL})`,
  );
  const crdInstalled = await installCrds(cluster);
  await startNodeAgent(cluster);
  if (crdInstalled) await startOperator(cluster);
  if (crdInstalled) await applySamples(cluster);
  await showSandboxes(cluster, crdInstalled);
  say('stop everything with: make demo-down');
  console.log(`export LATTICE_NATS_URL=${cluster.natsURL}`);
  for (const line of exportLines(cluster)) console.log(line);
  if (existsSync(SERVER_URL_FILE))
    console.log(`export LATTICE_SERVER_URL=${readFileSync(SERVER_URL_FILE, 'utf8')}`);
}

async function down(): Promise<void> {
  for (const [what, file] of [
    ['operator', OPERATOR_PID],
    ['control-plane bus', BUS_PID],
    ['node agent', AGENT_PID],
  ]) {
    const id = readPidFile(file);
    if (id && alive(id)) {
      await terminate(id, 15_000);
      say(`${what} stopped (pid ${id.pid})`);
    }
  }
  say((await downCluster(CLUSTER_DIR)) ? 'control plane stopped' : 'no control plane was running');
  rmSync(STATE, { recursive: true, force: true });
}

const command = process.argv[2];
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else {
    console.error('usage: node e2e/demo/cli.ts up|down');
    process.exitCode = 2;
  }
} catch (err) {
  const e = err as Error;
  console.error(`demo ${command}: ${e.name}: ${e.message}`);
  process.exitCode = 1;
}
