// The operator under faults, against the real control plane, under config/ RBAC:
// - its apiserver connections (watches included) cut again and again by a fault-injecting
//   TCP proxy (e2e/faultproxy) in front of the real kube-apiserver;
// - the kube-apiserver restarted while the operator runs (on a cluster of its own: the shared
//   one serves other test processes at the same time);
// - the leader killed with SIGKILL while a standby waits.
// Each time it must converge: every sandbox has exactly one Pod, and status is not lost.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { FaultProxy, throughProxy } from '../../e2e/faultproxy/proxy.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { type OperatorOptions, startOperator } from '../operator.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { silentLogger } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import {
  adminClient,
  cluster,
  eventually,
  must,
  namespace,
  privateCluster,
  ROOT,
  sandboxYAML,
  suffix,
} from '../testing/harness.ts';

let c: Cluster;
let admin: KubeClient;
before(async () => {
  c = await cluster();
  admin = adminClient(c);
});
after(() => admin?.close());

const podsOf = async (ns: string) =>
  (
    await admin.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`, {
      query: { labelSelector: 'lattice.io/sandbox' },
    })
  ).items;
const sandboxes = async (ns: string) =>
  (
    await admin.request<{ items: LatticeSandbox[] }>(
      'GET',
      `/apis/lattice.io/v1alpha1/namespaces/${ns}/latticesandboxes`,
    )
  ).items;
const create = (ns: string, name: string) =>
  must(c, ['apply', '-f', '-'], sandboxYAML(name, ns, { agent: { image: 'a' } }));

/** Every sandbox has exactly one Pod and a status for its current generation. */
async function converged(ns: string, names: string[]): Promise<boolean> {
  const pods = await podsOf(ns);
  const sbs = await sandboxes(ns);
  for (const n of names) {
    if (pods.filter((p) => p.metadata!.labels!['lattice.io/sandbox'] === n).length !== 1) return false;
    const s = sbs.find((x) => x.metadata.name === n);
    if (!s || s.status?.observedGeneration !== s.metadata.generation || s.status?.podName !== n) return false;
  }
  return pods.length === names.length;
}

/** An operator in a fresh namespace whose apiserver connections all go through a fault-injecting
 *  proxy; everything is stopped and removed after the test. */
async function operatorBehindFaultProxy(
  t: TestContext,
  prefix: string,
  options: Pick<OperatorOptions, 'pollIntervalMs' | 'watch'>,
) {
  const ns = await namespace(c, prefix);
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(new URL(c.apiServerURL).port) });
  let op: Manager | undefined;
  t.after(async () => {
    await op?.stop();
    await proxy.close();
    await ns.remove();
  });
  const kubeconfig = join(c.dir, `operator-via-proxy-${suffix()}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    throughProxy(readFileSync(c.operatorKubeconfig, 'utf8'), c.apiServerURL, proxy.port),
    { mode: 0o600 },
  );
  op = await startOperator({
    kubeconfig,
    namespace: ns.name,
    serverURL: 'http://127.0.0.1:1',
    log: silentLogger,
    ...options,
  });
  return { ns, proxy, op };
}

test('watch streams cut repeatedly through a fault-injecting proxy: the operator re-watches and converges', async (t) => {
  const { ns, proxy, op } = await operatorBehindFaultProxy(t, 'cut', { pollIntervalMs: 1000 });
  const names: string[] = [];
  for (let round = 0; round < 4; round++) {
    const name = `cut-${round}`;
    names.push(name);
    // Cut first: this sandbox is created while the operator's watches are down.
    assert.ok(proxy.cutAll() >= 1, 'the operator had open connections to cut');
    await create(ns.name, name);
    await eventually(`convergence after cut ${round}`, () => converged(ns.name, names), 60_000);
  }
  // The operator also survives a window in which the apiserver refuses it.
  proxy.refuse(true);
  proxy.cutAll();
  await create(ns.name, 'cut-refused');
  names.push('cut-refused');
  await new Promise((r) => setTimeout(r, 1500));
  proxy.refuse(false);
  await eventually('convergence after refusal', () => converged(ns.name, names), 60_000);
  const restarts = await op.metrics.watchRestarts.get();
  assert.ok(
    restarts.values.reduce((n, v) => n + v.value, 0) >= 4,
    `watch restarts counted: ${JSON.stringify(restarts.values)}`,
  );
});

test('a watch stream that silently stops delivering is found by the idle limit and replaced', async (t) => {
  const { ns, proxy, op } = await operatorBehindFaultProxy(t, 'stall', {
    watch: { timeoutSeconds: 600, idleMs: 4000 },
  });
  await create(ns.name, 'st-0');
  await eventually('first sandbox', () => converged(ns.name, ['st-0']));
  // Every open connection goes silent (no RST, no FIN); new connections work. The server would
  // end these watches only after 600 s: without the idle limit the operator would wait that long.
  assert.ok(proxy.stallOpen() >= 2, 'the watches were open');
  await create(ns.name, 'st-1');
  await eventually(
    'convergence through fresh connections',
    () => converged(ns.name, ['st-0', 'st-1']),
    30_000,
  );
  const restarts = (await op.metrics.watchRestarts.get()).values;
  assert.ok(
    restarts.some((v) => v.labels.reason === 'error' && v.value >= 1),
    `an idle watch was dropped: ${JSON.stringify(restarts)}`,
  );
});

test('the kube-apiserver restarted mid-run: the operator converges without duplicate Pods or lost status', async (t) => {
  const own = await privateCluster();
  const ownAdmin = adminClient(own);
  t.after(async () => {
    ownAdmin.close();
    await own.stop();
  });
  const ns = 'restart';
  await must(own, ['create', 'namespace', ns]);
  const op = await startOperator({
    kubeconfig: own.operatorKubeconfig,
    namespace: ns,
    serverURL: 'http://127.0.0.1:1',
    log: silentLogger,
    pollIntervalMs: 1000,
  });
  t.after(() => op.stop());
  const list = async <T>(path: string) => (await ownAdmin.request<{ items: T[] }>('GET', path)).items;
  const converged2 = async (names: string[]) => {
    const pods = await list<V1Pod>(`/api/v1/namespaces/${ns}/pods`);
    const sbs = await list<LatticeSandbox>(`/apis/lattice.io/v1alpha1/namespaces/${ns}/latticesandboxes`);
    return (
      pods.length === names.length &&
      names.every(
        (n) =>
          pods.filter((p) => p.metadata!.labels!['lattice.io/sandbox'] === n).length === 1 &&
          sbs.some(
            (s) =>
              s.metadata.name === n &&
              s.status?.podName === n &&
              s.status.observedGeneration === s.metadata.generation,
          ),
      )
    );
  };
  const createOwn = (name: string) =>
    must(own, ['apply', '-f', '-'], sandboxYAML(name, ns, { agent: { image: 'a' } }));
  await createOwn('before');
  await eventually('first sandbox converged', () => converged2(['before']));
  const statusBefore = (
    await list<LatticeSandbox>(`/apis/lattice.io/v1alpha1/namespaces/${ns}/latticesandboxes`)
  )[0].status;
  await own.restartApiServer();
  await createOwn('after');
  await eventually('convergence after restart', () => converged2(['before', 'after']), 90_000);
  const before = (
    await list<LatticeSandbox>(`/apis/lattice.io/v1alpha1/namespaces/${ns}/latticesandboxes`)
  ).find((s) => s.metadata.name === 'before')!;
  assert.equal(before.status!.podName, statusBefore!.podName);
  assert.equal(before.status!.observedGeneration, statusBefore!.observedGeneration);
  t.diagnostic(`watch restarts: ${JSON.stringify((await op.metrics.watchRestarts.get()).values)}`);
});

test('the leader killed: the standby takes the Lease and converges, no duplicate Pods, no lost status', async (t) => {
  const ns = await namespace(c, 'leader');
  const lease = `lattice-operator-${ns.name}`;
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const spawnOperator = () => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'operator/main.ts'),
        `--kubeconfig=${c.operatorKubeconfig}`,
        `--namespace=${ns.name}`,
        '--probe-addr=127.0.0.1:0',
        `--leader-election-id=${lease}`,
        '--leader-election-namespace=lattice-system',
        '--leader-elect-lease-duration=4',
        '--leader-elect-renew-deadline=3',
        '--leader-elect-retry-period=0.5',
        '--server-url=http://127.0.0.1:1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, POD_NAME: 'op' } },
    );
    child.stderr!.setEncoding('utf8').on('data', (d) => logs.push(d));
    children.push(child);
    return child;
  };
  t.after(async () => {
    for (const ch of children) ch.kill('SIGKILL');
    await ns.remove();
  });
  const a = spawnOperator();
  const b = spawnOperator();
  const holder = async () =>
    (
      await admin.request<{ spec: { holderIdentity?: string } }>(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/lattice-system/leases/${lease}`,
      )
    ).spec.holderIdentity;
  const first = await eventually('a leader', async () => (await holder()) || undefined, 30_000);
  const leader = first === `op_${a.pid}` ? a : b;
  const standby = leader === a ? b : a;
  assert.ok(first === `op_${leader.pid}`, `holder ${first} is one of our two operators`);
  await create(ns.name, 'one');
  await eventually('converged under the first leader', () => converged(ns.name, ['one']), 30_000);
  const statusOne = (await sandboxes(ns.name))[0].status;

  leader.kill('SIGKILL');
  await create(ns.name, 'two');
  await eventually(
    'the standby holds the Lease',
    async () => (await holder()) === `op_${standby.pid}`,
    30_000,
  );
  await eventually('converged under the new leader', () => converged(ns.name, ['one', 'two']), 30_000).catch(
    (e) => {
      throw new Error(`${e.message}\noperator logs:\n${logs.join('').slice(-3000)}`);
    },
  );
  const one = (await sandboxes(ns.name)).find((s) => s.metadata.name === 'one')!;
  assert.equal(one.status!.podName, statusOne!.podName);
  assert.deepEqual(
    one.status!.conditions!.map((x) => [x.type, x.status]),
    statusOne!.conditions!.map((x) => [x.type, x.status]),
  );
  assert.equal(standby.exitCode, null, 'the standby keeps running');

  // A graceful stop (SIGTERM, as on a rollout) releases the Lease: exit 0, and a new standby leads.
  const third = spawnOperator();
  const exited = new Promise<number | null>((r) => standby.once('exit', (code) => r(code)));
  standby.kill('SIGTERM');
  assert.equal(await exited, 0);
  await eventually('the third operator leads', async () => (await holder()) === `op_${third.pid}`, 30_000);
  await create(ns.name, 'three');
  await eventually(
    'converged under the third leader',
    () => converged(ns.name, ['one', 'two', 'three']),
    30_000,
  );
});
