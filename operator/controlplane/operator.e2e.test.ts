// The operator with the control plane in-process, as deployed: the reconciler issues the token
// Secret, a datapath (here: a plain HTTP client with the token from that Secret) enrolls, the
// enrollment shows in the sandbox status, and deleting the sandbox runs the finalizer, which revokes
// the identity and releases the address. Both run under the operator's ServiceAccount, bound by
// config/rbac and config/controlplane/rbac.yaml only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePorts } from '../../e2e/cluster/ports.ts';
import { eventually } from '../../e2e/testing/eventually.ts';
import { startOperator } from '../operator.ts';
import type { Manager } from '../runtime/manager.ts';
import { KubeStore } from './kube-store.ts';
import { generateTrustSeeds, loadTrust } from './nats-trust.ts';
import {
  controlPlaneKubeConfig,
  deleteNamespace,
  type Env,
  env,
  namespace,
  postJson,
} from './testing/fixtures.ts';
import { type OperatorNats, startOperatorNats } from './testing/operator-nats.ts';

const seeds = generateTrustSeeds();
let e: Env;
let nats: OperatorNats;
let manager: Manager | undefined;
let ns: string;
let cpNs: string;
let url: string;

before(async () => {
  e = await env();
  const r = await e.cluster.kubectl(['apply', '-k', join(import.meta.dirname, '../../config/rbac')]);
  assert.equal(r.code, 0, r.stderr);
  ns = await namespace(e, 'cp-op');
  cpNs = await namespace(e, 'cp-op-sys');
  const { path } = await controlPlaneKubeConfig(e, cpNs);
  nats = await startOperatorNats(loadTrust(seeds));
  const [port] = await freePorts(1);
  url = `http://127.0.0.1:${port}`;
  manager = await startOperator({
    kubeconfig: path,
    namespace: ns,
    probeAddr: '127.0.0.1:0',
    serverURL: url,
    controlPlane: { namespace: cpNs, host: '127.0.0.1', port, natsURL: nats.url, trustSeeds: seeds },
    logLevel: 'warn',
  });
});

after(async () => {
  await manager?.stop();
  await nats?.destroy();
  if (e) await Promise.all([deleteNamespace(e, ns), deleteNamespace(e, cpNs)]);
});

test("a sandbox enrolls with the reconciler's token; deleting it revokes the identity and releases the address", async () => {
  await e.custom.createNamespacedCustomObject({
    group: 'lattice.io',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'latticesandboxes',
    body: {
      apiVersion: 'lattice.io/v1alpha1',
      kind: 'LatticeSandbox',
      metadata: { name: 'op-agent' },
      spec: { agent: { image: 'agent:test' } },
    },
  });
  const token = await eventually(
    'the reconciler to issue the token Secret',
    async () => {
      const s = await e.core.readNamespacedSecret({ namespace: ns, name: 'op-agent-enrollment' });
      return s.data?.token ? Buffer.from(s.data.token, 'base64').toString() : undefined;
    },
    30_000,
  );
  const publicKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');
  const r = await postJson(`${url}/api/v1/enroll`, { name: 'op-agent', namespace: ns, token, publicKey });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const ip = r.json.overlayIP as string;
  const store = new KubeStore(e.kc, cpNs);
  assert.equal((await store.listClaims()).filter((c) => c.ip === ip && c.state === 'bound').length, 1);
  const again = await postJson(`${url}/api/v1/enroll`, { name: 'op-agent', namespace: ns, token, publicKey });
  assert.equal(again.status, 409, 'the token is one-time');

  await eventually(
    'the status to show the enrollment',
    async () => {
      const o = (await e.custom.getNamespacedCustomObject({
        group: 'lattice.io',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'latticesandboxes',
        name: 'op-agent',
      })) as {
        status?: { overlayIP?: string; enrollment?: { consumedAt?: string } };
      };
      return o.status?.overlayIP === ip && o.status.enrollment?.consumedAt ? true : undefined;
    },
    15_000,
  );

  await e.custom.deleteNamespacedCustomObject({
    group: 'lattice.io',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'latticesandboxes',
    name: 'op-agent',
  });
  await eventually(
    'the finalizer to release the address',
    async () => ((await store.listClaims()).length === 0 ? true : undefined),
    30_000,
  );
  await eventually(
    'the sandbox to be gone',
    async () => {
      try {
        await e.custom.getNamespacedCustomObject({
          group: 'lattice.io',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'latticesandboxes',
          name: 'op-agent',
        });
        return undefined;
      } catch {
        return true;
      }
    },
    30_000,
  );
  const { entries } = await store.getRevocations();
  assert.ok(Object.keys(entries).length >= 1, 'the bus credential was revoked');
});
