// The Kopf-like controller around a handler, against a real kube-apiserver (ConfigMaps as the
// kind, so the runtime is tested apart from the sandbox reconciler): a handler that throws
// never takes the process down and is retried with backoff; a permanent error is reported as
// a Warning Event and not retried; a temporary error honours its delay; periodic resync
// re-runs handlers with no event; a finalizer is added, finalize runs once, then it is removed;
// a pass on a cache that lags behind our own status write reconciles from that write.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GROUP, PLURAL, KIND as SANDBOX, VERSION } from '../../crds/schema.ts';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { adminClient, cluster, eventually, must, namespace, sandboxYAML } from '../testing/harness.ts';
import { Controller, type Kind } from './controller.ts';
import { PermanentError, TemporaryError } from './errors.ts';
import { EventRecorder } from './events.ts';
import type { KubeClient, KubeObject } from './kube.ts';
import { silentLogger } from './log.ts';
import { RuntimeMetrics } from './metrics.ts';

let c: Cluster;
let admin: KubeClient;
let ns: { name: string; remove(): Promise<void> };
let ctl: Controller<KubeObject, unknown>;
const metrics = new RuntimeMetrics();
const calls = new Map<string, number>();
const finalized: string[] = [];
const succeeded = new Set<string>();
const KIND: Kind = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  namespaced: true,
  apiVersion: 'v1',
  kind: 'ConfigMap',
};
const FINALIZER = 'test.lattice.io/cleanup';

before(async () => {
  c = await cluster();
  admin = adminClient(c);
  ns = await namespace(c, 'ctl');
  ctl = new Controller<KubeObject, unknown>(
    {
      name: 'cm-test',
      kind: KIND,
      finalizer: FINALIZER,
      resyncMs: 1000,
      workers: 2,
      async reconcile(o) {
        const name = o.metadata.name!;
        const n = (calls.get(name) ?? 0) + 1;
        calls.set(name, n);
        if (name === 'boom') throw new TypeError('a bug in the handler');
        if (name === 'perm') throw new PermanentError('this ConfigMap can never work');
        if (name === 'temp' && n < 3) throw new TemporaryError('not yet', 300);
        succeeded.add(name);
        return {};
      },
      async finalize(o) {
        finalized.push(o.metadata.name!);
      },
    },
    {
      client: admin,
      log: silentLogger,
      metrics,
      events: new EventRecorder(admin, 'cm-test', 'test', silentLogger),
      namespace: ns.name,
    },
  );
  await ctl.start();
});

after(async () => {
  await ctl?.stop();
  await ns?.remove();
  admin?.close();
});

const create = (name: string) =>
  admin.request('POST', `/api/v1/namespaces/${ns.name}/configmaps`, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
  });
const sum = async (m: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await m.get()).values.reduce((n, v) => n + v.value, 0);

test('a throwing handler is retried with backoff and does not stop other keys', async () => {
  await create('boom');
  await eventually('three failed attempts', async () => (calls.get('boom') ?? 0) >= 3, 20_000);
  assert.ok((await sum(metrics.reconcileErrors)) >= 3);
  assert.ok((await sum(metrics.reconcilePanics)) >= 3, 'unclassified errors are counted as panics');
  assert.ok((await sum(metrics.retries)) >= 3);
  await create('fine');
  await eventually('another key is reconciled meanwhile', async () => (calls.get('fine') ?? 0) >= 1);
  // Backoff doubles (200, 400, 800, 1600 ms …) and resync adds one run per second: a dozen runs
  // in ~5 s at most, not a hot loop.
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(calls.get('boom')! <= 12, `attempts in ~5 s: ${calls.get('boom')}`);
});

test('a permanent error becomes a Warning Event and is not retried', async () => {
  await create('perm');
  await eventually('the event', async () => {
    const ev = await admin.request<{ items: { reason: string; note: string; type: string }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${ns.name}/events`,
      { query: { fieldSelector: 'regarding.name=perm' } },
    );
    return ev.items.find(
      (e) => e.reason === 'ReconcileFailed' && e.type === 'Warning' && /can never work/.test(e.note),
    );
  });
  const n = calls.get('perm');
  await new Promise((r) => setTimeout(r, 800));
  // Only resync (every 1 s) may run it again, not a retry loop.
  assert.ok(calls.get('perm')! <= n! + 1);
});

test('a temporary error is retried after its delay until it succeeds', async () => {
  await create('temp');
  await eventually('success after two temporary failures', async () => succeeded.has('temp'));
  assert.ok(calls.get('temp')! >= 3);
});

test('resync re-runs handlers without any change', async () => {
  const n = calls.get('fine')!;
  await eventually('resync', async () => calls.get('fine')! >= n + 2, 10_000);
});

test('finalizer: added, finalize runs once on delete, then the object goes', async () => {
  await create('fin');
  await eventually('finalizer added', async () => {
    const o = await admin.request<KubeObject>('GET', `/api/v1/namespaces/${ns.name}/configmaps/fin`);
    return o.metadata.finalizers?.includes(FINALIZER);
  });
  await admin.request('DELETE', `/api/v1/namespaces/${ns.name}/configmaps/fin`);
  await eventually('gone', () =>
    admin.request('GET', `/api/v1/namespaces/${ns.name}/configmaps/fin`).then(
      () => false,
      () => true,
    ),
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(
    finalized.filter((n) => n === 'fin'),
    ['fin'],
  );
});

test('a pass on a lagging cache reconciles from the status this process wrote, and writes it once', async () => {
  // LatticeSandboxes as the kind (it has a status subresource), seen through a watch whose events
  // each arrive 1 s after the one before: the pass our own finalizer write queues then always runs
  // on a cache that has the finalizer but not the status written a moment later.
  const lagging = adminClient(c);
  const watch = lagging.watch.bind(lagging);
  lagging.watch = (path, query, onEvent, signal, idleMs) => {
    let next = Promise.resolve();
    return watch(
      path,
      query,
      (e) => {
        next = next.then(() => new Promise((r) => setTimeout(r, 1000))).then(() => onEvent(e));
      },
      signal,
      idleMs,
    );
  };
  const statusWrites: string[] = [];
  lagging.observe = (method, _code, path) => {
    if (method !== 'GET' && path.endsWith('/status')) statusWrites.push(path);
  };
  const seen: unknown[] = [];
  const kind: Kind = {
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespaced: true,
    apiVersion: `${GROUP}/${VERSION}`,
    kind: SANDBOX,
  };
  const lag = new Controller<KubeObject, unknown>(
    {
      name: 'lag-test',
      kind,
      finalizer: FINALIZER,
      async reconcile(o) {
        seen.push(o.status);
        // Keeps what status says; a pass handed no status would write its own number instead.
        const prev = (o.status as { podName?: string } | undefined)?.podName;
        return {
          status: { observedGeneration: o.metadata.generation, podName: prev ?? `pass-${seen.length}` },
        };
      },
    },
    {
      client: lagging,
      log: silentLogger,
      metrics: new RuntimeMetrics(),
      events: new EventRecorder(lagging, 'lag-test', 'test', silentLogger),
      namespace: ns.name,
    },
  );
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${PLURAL}/lag`;
  try {
    await lag.start();
    await must(c, ['apply', '-f', '-'], sandboxYAML('lag', ns.name, { agent: { image: 'a' } }));
    await eventually('the pass the finalizer write queues', () => seen.length >= 2, 20_000);
    // The status event itself arrives a second later and queues nothing (status-only update).
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(seen, [undefined, { observedGeneration: 1, podName: 'pass-1' }]);
    assert.equal(statusWrites.length, 1, `status writes: ${statusWrites.length}`);
    const stored = await admin.request<KubeObject>('GET', path);
    assert.deepEqual(stored.status, { observedGeneration: 1, podName: 'pass-1' });
  } finally {
    await lag.stop();
    await admin
      .request('PATCH', path, {
        body: { metadata: { finalizers: null } },
        contentType: 'application/merge-patch+json',
      })
      .catch(() => undefined);
    lagging.close();
  }
});
