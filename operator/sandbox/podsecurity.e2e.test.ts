// The sandbox Pods against Pod Security admission (built into kube-apiserver): a Cooperative
// Sidecar sandbox meets the `restricted` level as it is (non-root, no capabilities, no privilege
// escalation, seccomp RuntimeDefault, only emptyDir/downwardAPI volumes). Fenced (NET_ADMIN init
// container) and GVisor (privileged, hostPath) cannot; in such a namespace the operator reports
// the refusal in status and an Event instead of looping.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../../e2e/cluster/index.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { startOperator } from '../operator.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { silentLogger } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import { adminClient, cluster, eventually, must, namespace, sandboxYAML } from '../testing/harness.ts';

let c: Cluster;
let ns: { name: string; remove(): Promise<void> };
let op: Manager;
let admin: KubeClient;

before(async () => {
  c = await cluster();
  ns = await namespace(c, 'psa');
  await must(c, ['label', 'namespace', ns.name, 'pod-security.kubernetes.io/enforce=restricted']);
  admin = adminClient(c);
  op = await startOperator({
    kubeconfig: c.operatorKubeconfig,
    namespace: ns.name,
    serverURL: 'http://127.0.0.1:1',
    log: silentLogger,
  });
});
after(async () => {
  await op?.stop();
  admin?.close();
  await ns?.remove();
});

const getSandbox = (name: string) =>
  admin.request<LatticeSandbox>(
    'GET',
    `/apis/lattice.io/v1alpha1/namespaces/${ns.name}/latticesandboxes/${name}`,
  );

test('a Cooperative Sidecar sandbox Pod is admitted under the restricted Pod Security level', async () => {
  await must(c, ['apply', '-f', '-'], sandboxYAML('coop', ns.name, { agent: { image: 'a' } }));
  const pod = await eventually('the Pod', () =>
    admin.request<V1Pod>('GET', `/api/v1/namespaces/${ns.name}/pods/coop`).catch(() => undefined),
  );
  assert.equal(pod.metadata!.labels!['lattice.io/sandbox'], 'coop');
});

for (const [name, spec] of [
  ['fenced', { agent: { image: 'a' }, enforcement: 'Fenced' }],
  ['gvisor', { mode: 'GVisor', gvisor: { rootfs: { hostPath: '/opt/rootfs' }, binary: '/bin/agent' } }],
] as const) {
  test(`a ${name} sandbox in a restricted namespace: PodRejected in status and a Warning Event, no loop`, async () => {
    await must(c, ['apply', '-f', '-'], sandboxYAML(name, ns.name, spec));
    const sb = await eventually('the rejection in status', async () => {
      const s = await getSandbox(name);
      return s.status?.conditions?.find((x) => x.type === 'PodReady')?.reason === 'PodRejected' && s;
    });
    const podReady = sb.status!.conditions!.find((x) => x.type === 'PodReady')!;
    assert.equal(podReady.status, 'False');
    assert.match(podReady.message, /violates PodSecurity "restricted/);
    assert.equal(sb.status!.phase, 'Failed');
    const events = await admin.request<{
      items: { reason: string; type: string; regarding: { name: string } }[];
    }>('GET', `/apis/events.k8s.io/v1/namespaces/${ns.name}/events`);
    assert.ok(
      events.items.some(
        (e) => e.regarding.name === name && e.reason === 'PodRejected' && e.type === 'Warning',
      ),
    );
    // No retry loop: once the writes that follow the rejection have landed (the status, the Event),
    // the object stays as written. A loop would never settle, or would change it again afterwards.
    let rv = sb.metadata.resourceVersion;
    const settled = await eventually(
      'the sandbox to settle',
      async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const now = (await getSandbox(name)).metadata.resourceVersion;
        if (now === rv) return now;
        rv = now;
        return undefined;
      },
      15_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await getSandbox(name)).metadata.resourceVersion, settled);
  });
}
