// `make demo` / `make demo-down`: the local control plane, the e2e node agent (runs the sandboxes'
// Pods as local processes; test infrastructure), the LatticeSandbox CRD, the operator (under its own
// ServiceAccount and the RBAC from config/rbac, not as admin) serving the control plane with its
// operator-mode nats-server (control-plane.ts), then the samples from config/samples with the demo
// agent (agent.ts) as their agent (plan.ts says what is rewritten and why). It waits until every
// sandbox is Ready with an overlay IP, a connected peer and a denied connection, and the two sidecar
// agents fetch each other's forward over the overlay; then prints `kubectl get sandboxes`, a few audit
// records from the control plane, and the export lines. Everything keeps running in the background
// until `make demo-down`. State: .lattice/demo, or $LATTICE_DEMO_DIR (the e2e test uses its own).
//   node e2e/demo/cli.ts up|down
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  globSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { busyboxRootfs } from '../../datapath/gvisor/testing/rootfs.ts';
import type { Cluster } from '../cluster/index.ts';
import { downCluster, ensureCluster, exportLines, REPO_ROOT } from '../cluster/persistent.ts';
import { freePorts } from '../cluster/ports.ts';
import { alive, idOf, readPidFile, terminate, writePidFile } from '../cluster/proc.ts';
import { findTools } from '../cluster/tools.ts';
import { ensureTrustSecret, waitTcp, writeNatsConfig } from './control-plane.ts';
import { DEMO_AGENT_IMAGE, demoSandbox, missing, type SandboxView, viewOf } from './plan.ts';

const STATE = process.env.LATTICE_DEMO_DIR
  ? resolve(process.env.LATTICE_DEMO_DIR)
  : join(REPO_ROOT, '.lattice', 'demo');
const ROOTFS = join(STATE, 'agent-rootfs');
/** how long `up` waits for the sandboxes to show everything (LATTICE_DEMO_WAIT_S overrides) */
const WAIT_MS = Number(process.env.LATTICE_DEMO_WAIT_S ?? 150) * 1000;
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

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
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

/** The gVisor sample's rootfs: busybox and a stand-in `ai-agent` that tries the metadata address. */
function prepareRootfs(): string | undefined {
  const binary = join(ROOTFS, 'usr', 'local', 'bin', 'ai-agent');
  const missingTools = [
    ['runsc', 'runsc'],
    ['socat', 'socat'],
    ['busybox', 'busybox'],
  ].filter(([cmd]) => !onPath(cmd));
  if (missingTools.length > 0)
    return `${missingTools.map(([c]) => c).join(', ')} not installed (Debian packages ${missingTools.map(([, p]) => p).join(', ')}; .ci/run installs them), so the GVisor sample cannot run its agent`;
  if (!existsSync(binary)) {
    rmSync(ROOTFS, { recursive: true, force: true });
    busyboxRootfs(ROOTFS);
    mkdirSync(join(ROOTFS, 'usr', 'local', 'bin'), { recursive: true, mode: 0o755 });
    // No DNS inside gVisor mode (docs/gvisor.md), so addresses only. The datapath refuses this one
    // (the sample denies 169.254.0.0/16); the agent sees the connection reset.
    writeFileSync(
      binary,
      [
        '#!/bin/sh',
        'echo "ai-agent (demo stand-in, in gVisor) started: $*"',
        'while true; do',
        "  printf 'GET /latest/meta-data/ HTTP/1.0\\r\\n\\r\\n' | nc 169.254.169.254 80 > /tmp/out 2>&1",
        '  echo "metadata 169.254.169.254:80 -> exit $? ($(wc -c < /tmp/out) bytes; refused by the datapath)"',
        '  sleep 5',
        'done',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }
  return undefined;
}

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function applySamples(c: Cluster): Promise<void> {
  const samples = globSync('config/samples/*.yaml', { cwd: REPO_ROOT }).sort();
  if (samples.length === 0) {
    say('no samples in config/samples yet');
    return;
  }
  for (const s of samples) {
    const docs = loadAllYaml(readFileSync(join(REPO_ROOT, s), 'utf8')).map((d) =>
      demoSandbox(d, { agentImage: DEMO_AGENT_IMAGE, rootfs: ROOTFS }),
    );
    const input = docs.map((d) => dumpYaml(d)).join('---\n');
    const r = await c.kubectl(['apply', '-n', 'default', '-f', '-'], { input });
    say(r.code === 0 ? `${s}: ${r.stdout.trim()}` : `${s} rejected: ${r.stderr.trim()}`);
  }
}

async function sandboxViews(c: Cluster): Promise<SandboxView[]> {
  const r = await c.kubectl(['get', 'sandboxes', '-n', 'default', '-o', 'json']);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout).items as Parameters<typeof viewOf>[0][]).map(viewOf);
}

/** Why the Pod of a sandbox does not run, from its container statuses (e.g. CreateContainerConfigError). */
async function podProblems(c: Cluster, name: string): Promise<string> {
  const r = await c.kubectl(['get', 'pod', name, '-n', 'default', '-o', 'json']);
  if (r.code !== 0) return '';
  const st = JSON.parse(r.stdout).status ?? {};
  const all = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])] as {
    name: string;
    state?: Record<string, { reason?: string; message?: string }>;
  }[];
  return all
    .flatMap((cs) =>
      Object.entries(cs.state ?? {})
        .filter(([k, v]) => k !== 'running' && v.reason && v.reason !== 'Completed')
        .map(([, v]) => `container ${cs.name}: ${v.reason}${v.message ? ` (${v.message})` : ''}`),
    )
    .join('; ');
}

/** Waits (bounded) until every sandbox shows what the demo is about; true if they all do. */
async function waitShowcase(c: Cluster, gvisorProblem: string | undefined): Promise<boolean> {
  say(
    `waiting up to ${WAIT_MS / 1000} s for every sandbox: Ready, overlay IP, a connected peer, a denied connection, and the peer fetch over the overlay`,
  );
  const t = Date.now();
  let views: SandboxView[] = [];
  while (Date.now() - t < WAIT_MS) {
    views = await sandboxViews(c);
    if (views.length > 0 && views.every((v) => missing(v).length === 0)) {
      say(`all ${views.length} sandboxes show it after ${((Date.now() - t) / 1000).toFixed(1)} s`);
      return true;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
  say(`timed out after ${WAIT_MS / 1000} s; what is missing:`);
  for (const v of views) {
    const m = missing(v);
    if (m.length === 0) continue;
    const pod = await podProblems(c, v.name);
    const why = v.mode === 'GVisor' && gvisorProblem ? `; ${gvisorProblem}` : '';
    console.log(`  ${v.name} (${v.mode ?? '?'}): ${m.join('; ')}${pod ? `; ${pod}` : ''}${why}`);
  }
  return false;
}

type AuditRecord = {
  time: string;
  event: string;
  decision: string;
  dir: string;
  host: string;
  port: number;
  path: string | null;
  rule: string | null;
  reason: string;
  bytesDown: number | null;
};

/** The first records of agentName's audit that show a peer fetch over the overlay and a denial. */
async function auditHighlights(serverURL: string, agentName: string): Promise<AuditRecord[]> {
  const deadline = Date.now() + 30_000; // the datapath streams its audit file to the bus
  let picked: AuditRecord[] = [];
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${serverURL}/api/v1/audit/flow?agentName=${agentName}&limit=1000`);
      const records = ((await res.json()) as { records?: AuditRecord[] }).records ?? [];
      // a completed fetch (the first ones may fail while the peer's agent is still starting)
      const overlay = records.find(
        (r) => r.event === 'close' && r.path?.startsWith('overlay') && (r.bytesDown ?? 0) > 0,
      );
      const denied = records.find((r) => r.decision === 'deny');
      picked = [overlay, denied].filter((r): r is AuditRecord => r !== undefined);
      if (picked.length === 2) return picked;
    } catch {}
    await new Promise((res) => setTimeout(res, 1000));
  }
  return picked;
}

async function showSandboxes(c: Cluster, crdInstalled: boolean, gvisorProblem?: string): Promise<void> {
  if (!crdInstalled) {
    say('`kubectl get sandboxes`: the LatticeSandbox CRD is not there yet');
    return;
  }
  // a demo that does not show what it should fails (`make demo` exits non-zero), after printing
  if (!(await waitShowcase(c, gvisorProblem))) process.exitCode = 1;
  console.log('\n$ kubectl get sandboxes -A');
  const r = await c.kubectl(['get', 'sandboxes', '-A']);
  console.log((r.code === 0 ? r.stdout : r.stderr).trimEnd());
  if (existsSync(SERVER_URL_FILE)) {
    const serverURL = readFileSync(SERVER_URL_FILE, 'utf8');
    const agent = 'agent-001';
    console.log(`\n$ curl -s '${serverURL}/api/v1/audit/flow?agentName=${agent}'   # a few of its records`);
    const picked = await auditHighlights(serverURL, agent);
    if (picked.length === 0) console.log('(no records streamed yet)');
    for (const a of picked)
      console.log(
        `${a.time}  ${a.event.padEnd(8)} ${a.decision.padEnd(5)} ${a.dir} ${a.host}:${a.port}` +
          `  path=${a.path ?? '-'}  rule=${a.rule ?? '-'}  reason=${a.reason}` +
          (a.bytesDown !== null ? `  bytesDown=${a.bytesDown}` : ''),
      );
  }
  const log = agentLogFile('agent-001');
  if (log) {
    console.log(`\n$ tail -n 2 ${log}   # the demo agent's own view`);
    console.log(logTail(log, 2));
  }
  console.log();
}

/** The log file of a sandbox's agent container, in the state dir of the demo's node agent. */
function agentLogFile(name: string): string | undefined {
  const ours = readPidFile(AGENT_PID)?.pid;
  for (const pidFile of globSync(join(tmpdir(), 'lattice-node-agent-*', 'agent.pid'))) {
    if (readPidFile(pidFile)?.pid !== ours) continue;
    const logs = globSync(join(dirname(pidFile), 'pods', `default_${name}_*`, 'logs', 'agent.log'));
    return logs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  }
  return undefined;
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
  const gvisorProblem = prepareRootfs();
  if (gvisorProblem) say(`GVisor sample: ${gvisorProblem}`);
  if (crdInstalled) await applySamples(cluster);
  await showSandboxes(cluster, crdInstalled, gvisorProblem);
  say(`up in ${((Date.now() - t) / 1000).toFixed(1)} s; stop everything with: make demo-down`);
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
