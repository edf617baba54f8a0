// Operator at scale on the local control plane (real kube-apiserver, etcd, kube-controller-manager):
// N LatticeSandboxes created at once (default 1000; BENCH_SANDBOXES=…) → time until every one has
// its Pod, and the operator's API requests while doing it and in steady state afterwards.
// Comparison peer, same run, same cluster: kube-controller-manager's ReplicaSet controller creating
// N Pods for one ReplicaSet of N replicas (client-go, QPS-limited by its defaults).
import { startOperator } from '../operator.ts';
import { silentLogger } from '../runtime/log.ts';
import { adminClient, cluster, namespace } from '../testing/harness.ts';

const N = Number(process.env.BENCH_SANDBOXES ?? 1000);
const STEADY_MS = Number(process.env.BENCH_STEADY_MS ?? 60_000);
const c = await cluster();
const admin = adminClient(c);

async function countPods(ns: string, selector?: string): Promise<number> {
  const l = await admin.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${ns}/pods`, {
    query: { labelSelector: selector, resourceVersion: '0' },
    timeoutMs: 60_000,
  });
  return l.items.length;
}

async function waitPods(ns: string, n: number, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if ((await countPods(ns)) >= n) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  return Number.NaN;
}

async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

const sum = async (m: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await m.get()).values.reduce((n, v) => n + v.value, 0);

// --- the operator ---
const ns = await namespace(c, 'scale');
const op = await startOperator({
  kubeconfig: c.operatorKubeconfig,
  namespace: ns.name,
  serverURL: 'http://127.0.0.1:1',
  log: silentLogger,
});
const t0 = Date.now();
await pool(
  Array.from({ length: N }, (_, i) => `sb-${i}`),
  32,
  (name) =>
    admin.request('POST', `/apis/lattice.io/v1alpha1/namespaces/${ns.name}/latticesandboxes`, {
      body: {
        apiVersion: 'lattice.io/v1alpha1',
        kind: 'LatticeSandbox',
        metadata: { name },
        spec: { agent: { image: 'a' } },
      },
      timeoutMs: 60_000,
    }),
);
const createdMs = Date.now() - t0;
const podsMs = await waitPods(ns.name, N, 180_000);
const allPodsMs = Number.isNaN(podsMs) ? Number.NaN : Date.now() - t0;
// Wait for the work queue to drain (statuses written) before measuring steady state.
for (let i = 0; i < 600 && (op.pending > 0 || (await sum(op.metrics.activeWorkers)) > 0); i++)
  await new Promise((r) => setTimeout(r, 100));
const requestsBurst = await sum(op.metrics.requests);
const writesBurst = op.metrics.writeCount;
await new Promise((r) => setTimeout(r, STEADY_MS));
const steadyRequests = (await sum(op.metrics.requests)) - requestsBurst;
const steadyWrites = op.metrics.writeCount - writesBurst;
await op.stop();

// --- the peer: a ReplicaSet of N replicas, reconciled by kube-controller-manager ---
const peer = await namespace(c, 'scale-rs');
await admin.request('POST', `/apis/apps/v1/namespaces/${peer.name}/replicasets`, {
  body: {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'rs' },
    spec: {
      replicas: N,
      selector: { matchLabels: { app: 'rs' } },
      template: { metadata: { labels: { app: 'rs' } }, spec: { containers: [{ name: 'c', image: 'a' }] } },
    },
  },
});
const peerMs = await waitPods(peer.name, N, 300_000);

const s = (ms: number) => (Number.isNaN(ms) ? 'did not finish' : `${(ms / 1000).toFixed(1)} s`);
const rate = (ms: number) => (Number.isNaN(ms) ? '–' : `${((N * 1000) / ms).toFixed(0)}`);
console.log(
  `N = ${N} on ${c.apiServerURL} (2 shared cores). Objects created with 32 concurrent POSTs in ${s(createdMs)}.\n`,
);
console.log(
  '| controller | what it creates per object | time until all N Pods exist | Pods/s | API requests (burst) | writes (burst) | requests in steady state |',
);
console.log('|---|---|---|---|---|---|---|');
console.log(
  `| lattice operator (16 workers) | Secret + Pod (SSA) + finalizer + status | ${s(allPodsMs)} | ${rate(allPodsMs)} | ${requestsBurst} | ${writesBurst} | ${steadyRequests} in ${STEADY_MS / 1000} s (${steadyWrites} writes) |`,
);
console.log(
  `| kube-controller-manager ReplicaSet (peer) | Pod | ${s(peerMs)} | ${rate(peerMs)} | – | – | – |`,
);
console.log(`\nTarget: all ${N} Pods within 60 s → ${allPodsMs <= 60_000 ? 'met' : 'NOT met'}.`);

await ns.remove();
await peer.remove();
admin.close();
process.exit(0);
