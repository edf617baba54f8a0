// The local Kubernetes control plane for tests and the demo: real kube-apiserver, etcd,
// kube-controller-manager and nats-server on loopback, TLS between them, RBAC on.
// This file is the public API; the pieces live beside it:
//   tools.ts (where binaries are), pki.ts (certificates), config.ts (command lines, kubeconfigs),
//   supervisor.ts (the process that owns the components), health.ts, reaper.ts, control.ts.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  apiServerSpec,
  type Binaries,
  type ComponentSpec,
  controllerManagerSpec,
  etcdSpec,
  kubeconfig,
  layout,
  natsConfig,
  natsSpec,
  OPERATOR_NAMESPACE,
  OPERATOR_SERVICE_ACCOUNT,
  operatorIdentityManifest,
  type Ports,
} from './config.ts';
import { control } from './control.ts';
import { ClusterError } from './errors.ts';
import { type KubectlResult, mustKubectl, runKubectl } from './kubectl.ts';
import { createPki } from './pki.ts';
import { type ClusterInfo, type Plan, readJson, type SupervisorState, writeJson } from './plan.ts';
import { freePorts } from './ports.ts';
import { alive, readPidFile, selfId, waitGone, writePidFile } from './proc.ts';
import { killLeftovers, reapStaleTempClusters, supervisorAlive, TEMP_PREFIX } from './reaper.ts';
import { findTools } from './tools.ts';

export { OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT } from './config.ts';
export {
  ClusterError,
  ComponentExitedError,
  HealthTimeoutError,
  MissingBinaryError,
  PortTakenError,
} from './errors.ts';
export type { KubectlResult } from './kubectl.ts';

/** A running cluster: what ClusterInfo records about it, and how to use and stop it. */
export interface Cluster extends ClusterInfo {
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<KubectlResult>;
  /** stop + start the apiserver with the same data and port (fault tests) */
  restartApiServer(): Promise<void>;
  /** stop every process and remove the state dir (a no-op detach for an attached shared cluster) */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** state dir; default a fresh temp dir. Removed when the cluster stops. */
  dir?: string;
  /** default true: garbage collector, namespace, serviceaccount and other controllers */
  withControllerManager?: boolean;
  /** default true: nats-server with JetStream */
  withNats?: boolean;
  /** keep running after this process exits, until stopped through the CLI (`make cluster-up`) */
  persistent?: boolean;
  /** lifetime of the operator's ServiceAccount token; default 24h (persistent: 720h) */
  operatorTokenDuration?: string;
}

const SUPERVISOR = join(import.meta.dirname, 'supervisor.ts');

function makeCluster(info: ClusterInfo, owned: boolean): Cluster {
  const L = layout(info.dir);
  const kubectlPath = join(info.binDir, 'kubectl');
  let stopped = false;
  return {
    ...info,
    kubectl: (args, opts) =>
      runKubectl(kubectlPath, opts?.kubeconfig ?? info.adminKubeconfig, args, opts?.input),
    async restartApiServer() {
      await control(L.socket, 'POST', '/restart/kube-apiserver');
    },
    async stop() {
      if (!owned || stopped) return;
      stopped = true;
      await stopDir(info.dir);
    },
  };
}

/** Stops the cluster whose state dir is dir, whoever started it, and removes the dir. */
export async function stopDir(dir: string): Promise<void> {
  const L = layout(dir);
  const sup = readPidFile(L.supervisorPid);
  if (alive(sup)) {
    try {
      await control(L.socket, 'POST', '/stop');
    } catch {
      // an unresponsive supervisor: signals still work
      if (sup) process.kill(sup.pid, 'SIGTERM');
    }
    if (sup && !(await waitGone(sup, 30_000))) process.kill(sup.pid, 'SIGKILL');
  }
  await killLeftovers(dir);
  rmSync(dir, { recursive: true, force: true });
}

function waitForSupervisor(dir: string, timeoutMs: number): Promise<SupervisorState> {
  const L = layout(dir);
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const s = readJson<SupervisorState>(L.state);
      if (s?.phase === 'ready') return resolve(s);
      if (s?.phase === 'failed') {
        const err = new ClusterError(s.error?.message ?? 'the cluster failed to start');
        if (s.error?.name) err.name = s.error.name;
        return reject(err);
      }
      const sup = readPidFile(L.supervisorPid);
      if (sup && !alive(sup)) {
        let tail = '';
        try {
          tail = readFileSync(L.supervisorLog, 'utf8').slice(-2000);
        } catch {}
        return reject(
          new ClusterError(`the cluster supervisor exited during start; ${L.supervisorLog}:\n${tail}`),
        );
      }
      if (Date.now() > deadline)
        return reject(new ClusterError(`the cluster did not start within ${timeoutMs} ms`));
      setTimeout(tick, 100);
    };
    tick();
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new ClusterError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startCluster(opts: StartOptions = {}): Promise<Cluster> {
  // Ports are picked free and released before the components bind them, so a process starting
  // at the same moment can take one; that start fails with PortTakenError, and another try with
  // fresh ports succeeds.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if ((err as Error).name !== 'PortTakenError' || attempt === 3) throw err;
    }
  }
}

async function startOnce(opts: StartOptions): Promise<Cluster> {
  const withKcm = opts.withControllerManager ?? true;
  const withNats = opts.withNats ?? true;
  await reapStaleTempClusters();
  const tools = findTools({ nats: withNats }); // a missing binary fails here, before anything starts

  let dir: string;
  if (opts.dir) {
    dir = resolve(opts.dir);
    if (supervisorAlive(dir)) throw new ClusterError(`a cluster is already running in ${dir}`);
    await killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } else {
    dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  }
  const L = layout(dir);
  try {
    for (const d of [L.logs, L.pids, L.etcdData, L.natsStore, L.kcmCerts, L.apiServerCerts]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    const owner = opts.persistent ? undefined : selfId();
    if (owner) writePidFile(L.ownerPid, owner);

    const [etcdClient, etcdPeer, apiServer, controllerManager, nats, natsMonitor] = await freePorts(6);
    const ports: Ports = { etcdClient, etcdPeer, apiServer, controllerManager, nats, natsMonitor };
    const pki = await createPki(L.pki);
    const apiServerURL = `https://127.0.0.1:${ports.apiServer}`;
    const caPem = readFileSync(pki.ca.cert, 'utf8');
    const certUser = (p: { cert: string; key: string }) => ({
      clientCertificateData: readFileSync(p.cert, 'utf8'),
      clientKeyData: readFileSync(p.key, 'utf8'),
    });
    writeFileSync(L.adminKubeconfig, kubeconfig(apiServerURL, caPem, 'lattice-admin', certUser(pki.admin)), {
      mode: 0o600,
    });
    writeFileSync(
      L.controllerManagerKubeconfig,
      kubeconfig(apiServerURL, caPem, 'kube-controller-manager', certUser(pki.controllerManager)),
      { mode: 0o600 },
    );
    writeFileSync(L.natsConfig, natsConfig(L, ports), { mode: 0o600 });

    const bin: Binaries = {
      etcd: tools.etcd,
      etcdMinor: tools.etcdMinor,
      kubeApiserver: tools.kubeApiserver,
      kubeControllerManager: tools.kubeControllerManager,
      natsServer: tools.natsServer,
    };
    const first: ComponentSpec[] = [etcdSpec(L, ports, pki, bin)];
    if (withNats) first.push(natsSpec(L, ports, bin));
    const groups = [first, [apiServerSpec(L, ports, pki, bin)]];
    if (withKcm) groups.push([controllerManagerSpec(L, ports, pki, bin)]);
    const plan: Plan = { dir, owner, removeOnStop: true, groups };
    writeJson(L.plan, plan);

    const log = openSync(L.supervisorLog, 'a', 0o600);
    const sup = spawn(process.execPath, [SUPERVISOR, dir], { detached: true, stdio: ['ignore', log, log] });
    sup.unref();
    closeSync(log);
    const budget = groups.flat().reduce((ms, s) => ms + s.startTimeoutMs, 10_000);
    await waitForSupervisor(dir, budget);

    // The operator's identity: a ServiceAccount, and a token for it from the TokenRequest API.
    const kubectl = tools.kubectl;
    await mustKubectl(kubectl, L.adminKubeconfig, ['apply', '-f', '-'], operatorIdentityManifest());
    const duration = opts.operatorTokenDuration ?? (opts.persistent ? '720h' : '24h');
    const token = (
      await mustKubectl(kubectl, L.adminKubeconfig, [
        'create',
        'token',
        OPERATOR_SERVICE_ACCOUNT,
        '-n',
        OPERATOR_NAMESPACE,
        `--duration=${duration}`,
      ])
    ).trim();
    writeFileSync(
      L.operatorKubeconfig,
      kubeconfig(
        apiServerURL,
        caPem,
        `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SERVICE_ACCOUNT}`,
        {
          token,
        },
      ),
      { mode: 0o600 },
    );
    if (withKcm) {
      // Pods need their namespace's "default" ServiceAccount, made by the controller manager.
      await waitFor('the controller manager to create ServiceAccount default/default', 60_000, async () => {
        const r = await runKubectl(kubectl, L.adminKubeconfig, [
          'get',
          'serviceaccount',
          'default',
          '-n',
          'default',
        ]);
        return r.code === 0;
      });
    }
    const info: ClusterInfo = {
      dir,
      apiServerURL,
      adminKubeconfig: L.adminKubeconfig,
      operatorKubeconfig: L.operatorKubeconfig,
      natsURL: withNats ? `nats://127.0.0.1:${ports.nats}` : '',
      natsMonitorURL: withNats ? `http://127.0.0.1:${ports.natsMonitor}` : '',
      binDir: tools.k8sDir,
      caFile: pki.ca.cert,
    };
    writeJson(L.cluster, info);
    return makeCluster(info, true);
  } catch (err) {
    await stopDir(dir).catch(() => {});
    throw err;
  }
}

/** A running cluster started elsewhere (by e2e/run-tests.ts or `make cluster-up`), not owned:
 *  stop() only detaches. */
export function attachCluster(dir: string): Cluster {
  const L = layout(resolve(dir));
  const info = readJson<ClusterInfo>(L.cluster);
  if (!info) throw new ClusterError(`no running cluster in ${dir} (${L.cluster} is missing)`);
  if (!supervisorAlive(info.dir))
    throw new ClusterError(`the cluster in ${dir} is not running (its supervisor is gone)`);
  return makeCluster(info, false);
}

let shared: Promise<Cluster> | undefined;

/** Attach to the cluster e2e/run-tests.ts started (env LATTICE_CLUSTER_DIR), or start one for
 *  this process that is stopped when the process exits. */
export function sharedCluster(): Promise<Cluster> {
  shared ??= (async () => {
    const dir = process.env.LATTICE_CLUSTER_DIR;
    if (dir) return attachCluster(dir);
    const c = await startCluster();
    // The supervisor also notices this process is gone; this just makes it immediate.
    process.once('exit', () => {
      const sup = readPidFile(layout(c.dir).supervisorPid);
      if (sup && alive(sup)) process.kill(sup.pid, 'SIGTERM');
    });
    return c;
  })();
  return shared;
}

/** The processes and ports of the cluster in dir (supervisor included), for tests that check
 *  nothing is left behind. Read it while the cluster runs. */
export function inspectCluster(dir: string): { pids: number[]; ports: number[] } {
  const L = layout(dir);
  const plan = readJson<Plan>(L.plan);
  const ports = plan ? plan.groups.flat().flatMap((s) => s.ports.map((p) => p.port)) : [];
  const pids: number[] = [];
  const sup = readPidFile(L.supervisorPid);
  if (sup) pids.push(sup.pid);
  for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'nats-server']) {
    const id = readPidFile(`${L.pids}/${name}.pid`);
    if (id) pids.push(id.pid);
  }
  return { pids, ports };
}
