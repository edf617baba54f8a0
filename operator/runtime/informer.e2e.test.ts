// The informer against a real kube-apiserver: it lists, follows the watch, survives an apiserver
// restart, and when its resourceVersion is too old the apiserver answers 410 Gone (an ERROR event
// "Expired") and the informer relists. A restarted apiserver's watch cache starts at the current
// revision, so resuming from an older one is a guaranteed 410 — which is why this test runs on a
// cluster of its own (restarting the shared one would disturb other test processes).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { adminClient, eventually, must, privateCluster } from '../testing/harness.ts';
import { Informer } from './informer.ts';
import type { KubeClient, KubeObject } from './kube.ts';
import { silentLogger } from './log.ts';

let c: Cluster;
let admin: KubeClient;
const ns = { name: 'inf' };
before(async () => {
  c = await privateCluster();
  admin = adminClient(c);
  await must(c, ['create', 'namespace', ns.name]);
});
after(async () => {
  admin?.close();
  await c?.stop();
});

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const cmPath = (name?: string) => `/api/v1/namespaces/${ns.name}/configmaps${name ? `/${name}` : ''}`;
const createCM = (name: string) =>
  admin.request('POST', cmPath(), {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { t: 'inf' } }, data: { a: '1' } },
  });

test('list + watch, then a real 410 Gone: the informer relists and its cache matches the apiserver', async () => {
  const restarts: string[] = [];
  const seen = { add: [] as string[], update: [] as string[], del: [] as string[] };
  const inf = new Informer(admin, CONFIGMAPS, {
    namespace: ns.name,
    labelSelector: 't=inf',
    log: silentLogger,
    onRestart: (r) => restarts.push(r),
  });
  const name = (o: KubeObject) => o.metadata.name!;
  inf.addHandlers({
    onAdd: (o) => seen.add.push(name(o)),
    onUpdate: (_o, cur) => seen.update.push(name(cur)),
    onDelete: (o) => seen.del.push(name(o)),
  });
  await createCM('before');
  inf.start();
  try {
    await inf.waitForSync();
    assert.deepEqual(seen.add, ['before']);
    await createCM('watched');
    await eventually('the watch delivers the add', async () => seen.add.includes('watched'));
    await admin.request('PATCH', cmPath('watched'), {
      body: { data: { a: '2' } },
      contentType: 'application/merge-patch+json',
    });
    await eventually('the watch delivers the update', async () => seen.update.includes('watched'));

    // The apiserver restarts; objects come and go; the informer resumes. Told to resume from a
    // version older than the new watch cache, it gets 410 Gone and relists.
    await c.restartApiServer();
    await admin.request('DELETE', cmPath('before'));
    await createCM('meanwhile');
    inf.restartWatchFrom('1');
    await eventually('relist after 410 Gone', async () => restarts.includes('relist'));
    // Reported exactly once, by the watch or by the relist diff, whichever saw it first.
    await eventually('the deletion is reported', async () => seen.del.includes('before'));
    assert.equal(seen.del.length, 1);
    await eventually('the add is reported', async () => seen.add.includes('meanwhile'));
    assert.deepEqual([...inf.store.keys()].sort(), [`${ns.name}/meanwhile`, `${ns.name}/watched`]);
    assert.equal(seen.add.filter((n) => n === 'meanwhile').length, 1, 'reported once');
  } finally {
    await inf.stop();
  }
});
