// The reconciler against a real kube-apiserver + kube-controller-manager, running in-process
// under the ServiceAccount and RBAC from config/ (not as admin). There is no kubelet: Pods
// are marked ready through the status subresource, and the datapath's /status is served by
// a local HTTP server on the port the sandbox names (the datapath's real health server is
// exercised in datapath/).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { freePorts } from '../../e2e/cluster/ports.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { startOperator } from '../operator.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { createLogger } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import {
  adminClient,
  cluster,
  eventually,
  must,
  namespace,
  sandboxYAML,
  suffix,
} from '../testing/harness.ts';
import { InMemoryIdentityRevoker } from './identity.ts';

let c: Cluster;
let ns: { name: string; remove(): Promise<void> };
let op: Manager;
let admin: KubeClient;
const revoker = new InMemoryIdentityRevoker();
let statusDoc: unknown = {};
let datapath: http.Server;
let healthPort = 0;
const logs: string[] = [];

before(async () => {
  c = await cluster();
  ns = await namespace(c, 'rec');
  admin = adminClient(c);
  datapath = http.createServer((req, res) => {
    res.writeHead(req.url === '/status' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(statusDoc));
  });
  // Bound only when a test wants the datapath reachable.
  [healthPort] = await freePorts(1);
  op = await startOperator({
    kubeconfig: c.operatorKubeconfig,
    namespace: ns.name,
    leaderElection: {
      id: `lattice-operator-${ns.name}`,
      namespace: 'lattice-system',
      leaseMs: 4000,
      renewDeadlineMs: 3000,
      retryMs: 500,
    },
    serverURL: 'http://127.0.0.1:1',
    revoker,
    pollIntervalMs: 300,
    pollTimeoutMs: 500,
    log: createLogger('debug', {}, (line) => logs.push(line)),
    onLostLeadership: () => assert.fail('lost leadership'),
  });
});

after(async () => {
  await op?.stop();
  datapath?.close();
  admin?.close();
  await ns?.remove();
});

const api = (kind: 'pods' | 'secrets', name: string) => `/api/v1/namespaces/${ns.name}/${kind}/${name}`;
const sandboxPath = (name: string) =>
  `/apis/lattice.io/v1alpha1/namespaces/${ns.name}/latticesandboxes/${name}`;
const getPod = (name: string) => admin.request<V1Pod>('GET', api('pods', name));
const getSandbox = (name: string) => admin.request<LatticeSandbox>('GET', sandboxPath(name));
const token = async (name: string) => {
  const s = await admin.request<V1Secret>('GET', api('secrets', `${name}-enrollment`));
  return Buffer.from(s.data!.token, 'base64').toString();
};
const cond = (s: LatticeSandbox, t: string) => s.status?.conditions?.find((x) => x.type === t);
const apply = (name: string, spec: Record<string, unknown>) =>
  must(c, ['apply', '-f', '-'], sandboxYAML(name, ns.name, spec));

async function markReady(name: string, ip = '127.0.0.1') {
  await admin.request('PATCH', `${api('pods', name)}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    },
  });
}

test('Sidecar: the Pod, field by field, and its token Secret', async () => {
  await apply('side', {
    agent: { image: 'agent:1', args: ['--serve'] },
    egress: { rules: [{ cidr: '10.0.0.0/8' }] },
  });
  const pod = await eventually('the sidecar Pod', () => getPod('side').catch(() => undefined));
  const sb = await getSandbox('side');
  assert.deepEqual(pod.metadata!.labels, {
    'app.kubernetes.io/managed-by': 'lattice-operator',
    'lattice.io/agent': 'true',
    'lattice.io/sandbox': 'side',
  });
  assert.deepEqual(pod.metadata!.ownerReferences, [
    {
      apiVersion: 'lattice.io/v1alpha1',
      kind: 'LatticeSandbox',
      name: 'side',
      uid: sb.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  assert.equal(pod.spec!.automountServiceAccountToken, false);
  assert.deepEqual(pod.spec!.securityContext!.seccompProfile, { type: 'RuntimeDefault' });
  assert.equal(pod.spec!.containers.length, 1);
  const agent = pod.spec!.containers[0];
  assert.equal(agent.name, 'agent');
  assert.equal(agent.image, 'agent:1');
  assert.deepEqual(agent.args, ['--serve']);
  const env = Object.fromEntries(agent.env!.map((e) => [e.name, e.value]));
  assert.deepEqual(env, {
    ALL_PROXY: 'socks5h://127.0.0.1:1080',
    HTTPS_PROXY: 'http://127.0.0.1:1080',
    HTTP_PROXY: 'http://127.0.0.1:1080',
    NO_PROXY: 'localhost,127.0.0.1,.local',
  });
  assert.deepEqual(agent.securityContext!.capabilities, { drop: ['ALL'] });
  assert.equal(agent.securityContext!.runAsNonRoot, true);
  assert.equal(agent.securityContext!.allowPrivilegeEscalation, false);
  assert.equal(pod.spec!.initContainers!.length, 1);
  const dp = pod.spec!.initContainers![0];
  assert.equal(dp.name, 'datapath');
  assert.equal(dp.restartPolicy, 'Always', 'native sidecar: the agent starts after its startup probe passes');
  assert.equal(dp.image, 'ghcr.io/lattice-sandbox/datapath:0.1.0');
  assert.deepEqual(dp.args, [
    'sandbox',
    'start',
    '--name=side',
    '--server-url=http://127.0.0.1:1',
    '--proxy-addr=127.0.0.1:1080',
    '--health-addr=0.0.0.0:15021',
    '--config=/etc/lattice-spec/config.json',
    '--audit-path=/tmp/lattice-audit-side.jsonl',
    '--log-level=info',
  ]);
  assert.deepEqual(dp.env, [
    {
      name: 'LATTICE_TOKEN',
      valueFrom: { secretKeyRef: { name: 'side-enrollment', key: 'token', optional: true } },
    },
    { name: 'LATTICE_CONFIG_DIR', value: '/etc/lattice' },
    {
      name: 'LATTICE_NAMESPACE',
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
    },
  ]);
  assert.deepEqual(dp.resources, {
    requests: { cpu: '100m', memory: '64Mi' },
    limits: { cpu: '200m', memory: '128Mi' },
  });
  assert.deepEqual(dp.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  for (const p of [dp.startupProbe!, dp.readinessProbe!, dp.livenessProbe!])
    assert.equal(p.httpGet!.port, 15021);
  assert.equal(dp.readinessProbe!.httpGet!.path, '/readyz');
  assert.equal(dp.livenessProbe!.httpGet!.path, '/healthz');
  assert.deepEqual(
    dp.volumeMounts!.map((m) => m.mountPath),
    ['/etc/lattice', '/etc/lattice-spec', '/tmp'],
  );
  const vols = Object.fromEntries(pod.spec!.volumes!.map((v) => [v.name, v]));
  assert.ok(vols['lattice-state'].emptyDir);
  assert.equal(
    vols['lattice-spec'].downwardAPI!.items![0].fieldRef!.fieldPath,
    "metadata.annotations['lattice.io/datapath-config']",
  );
  assert.deepEqual(JSON.parse(pod.metadata!.annotations!['lattice.io/datapath-config']), {
    name: 'side',
    egress: { defaultAction: 'Deny', rules: [{ cidr: '10.0.0.0/8', action: 'Allow' }] },
    forwards: [],
  });
  const secret = await admin.request<V1Secret>('GET', api('secrets', 'side-enrollment'));
  assert.match(Buffer.from(secret.data!.token, 'base64').toString(), /^lt-[0-9a-f]{32}$/);
  assert.equal(secret.metadata!.ownerReferences![0].uid, sb.metadata.uid);
  assert.equal(secret.metadata!.annotations!['lattice.io/sandbox-uid'], sb.metadata.uid);
});

test('Fenced: an init container with NET_ADMIN runs before the datapath; nothing else has capabilities', async () => {
  await apply('fenced', { agent: { image: 'a' }, enforcement: 'Fenced' });
  const pod = await eventually('the fenced Pod', () => getPod('fenced').catch(() => undefined));
  assert.deepEqual(
    pod.spec!.initContainers!.map((x) => x.name),
    ['fence', 'datapath'],
  );
  const fence = pod.spec!.initContainers![0];
  assert.deepEqual(fence.securityContext!.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
  assert.equal(fence.restartPolicy, undefined, 'a plain init container: runs to completion first');
  assert.deepEqual(fence.args, [
    'sandbox',
    'fence',
    '--datapath-uid=65532',
    '--proxy-port=1080',
    '--health-port=15021',
  ]);
  assert.deepEqual(pod.spec!.initContainers![1].securityContext!.capabilities, { drop: ['ALL'] });
  assert.deepEqual(pod.spec!.containers[0].securityContext!.capabilities, { drop: ['ALL'] });
});

test('GVisor: one privileged datapath with --mode=gvisor, the rootfs volume, binary and args', async () => {
  await apply('gv', {
    mode: 'GVisor',
    gvisor: { rootfs: { hostPath: '/opt/rootfs' }, binary: '/bin/agent', args: ['-v'] },
  });
  const pod = await eventually('the gVisor Pod', () => getPod('gv').catch(() => undefined));
  assert.equal(pod.spec!.initContainers, undefined);
  assert.deepEqual(
    pod.spec!.containers.map((x) => x.name),
    ['datapath'],
  );
  const dp = pod.spec!.containers[0];
  assert.equal(dp.securityContext!.privileged, true);
  assert.deepEqual(dp.args!.slice(-4), [
    '--mode=gvisor',
    '--agent-rootfs=/agent-rootfs',
    '--agent-binary=/bin/agent',
    '--agent-arg=-v',
  ]);
  assert.deepEqual(
    dp.volumeMounts!.find((m) => m.name === 'agent-rootfs'),
    { name: 'agent-rootfs', mountPath: '/agent-rootfs', readOnly: true },
  );
  assert.deepEqual(pod.spec!.volumes!.find((v) => v.name === 'agent-rootfs')!.hostPath, {
    path: '/opt/rootfs',
    type: 'Directory',
  });
  const sb = await eventually('gv status', async () => {
    const s = await getSandbox('gv');
    return cond(s, 'EgressEnforced')?.reason === 'KernelIsolated' && s;
  });
  assert.equal(cond(sb, 'EgressEnforced')!.status, 'Unknown');
});

test('status: PodReady via kubectl wait, datapath Unknown while unreachable, Ready once /status answers', async () => {
  await apply('st', { agent: { image: 'a' }, datapath: { healthPort } });
  await eventually('the Pod', () => getPod('st').catch(() => undefined));
  // The status is written after the Pod is created, in the same pass: it may land a moment later.
  let sb = await eventually('a status', async () => {
    const s = await getSandbox('st');
    return s.status !== undefined && s;
  });
  assert.equal(sb.status?.phase, 'Pending');
  await markReady('st');
  await must(c, ['wait', '-n', ns.name, '--for=condition=PodReady', '--timeout=30s', 'sandbox/st']);
  sb = await eventually('Enrolled Unknown', async () => {
    const s = await getSandbox('st');
    return cond(s, 'Enrolled')?.reason === 'DatapathUnreachable' && s.status?.podIP === '127.0.0.1' && s;
  });
  assert.equal(cond(sb, 'Enrolled')!.status, 'Unknown');
  assert.equal(cond(sb, 'Ready')!.status, 'Unknown');
  assert.match(cond(sb, 'Enrolled')!.message, /could not be read/);
  assert.equal(sb.status!.observedGeneration, sb.metadata.generation);

  statusDoc = {
    identity: { enrolled: true, overlayIP: '100.64.0.9', publicKey: 'pk' },
    overlay: {
      up: true,
      peers: [{ lastHandshake: '2026-01-01T00:00:00Z' }, { lastHandshake: '2026-01-01T00:00:01Z' }, {}],
    },
    egress: {
      allowed: 12,
      denied: 3,
      recentDenials: [{ dst: 'evil.example:443', rule: 'default', count: 3, last: '2026-01-01T00:00:02Z' }],
    },
    audit: { records: 30, streamed: 30, healthy: true },
    ready: { ready: true },
  };
  await new Promise<void>((r) => datapath.listen(healthPort, '127.0.0.1', r));
  await must(c, ['wait', '-n', ns.name, '--for=condition=Ready', '--timeout=30s', 'sandbox/st']);
  sb = await getSandbox('st');
  assert.equal(sb.status!.phase, 'Ready');
  assert.equal(sb.status!.overlayIP, '100.64.0.9');
  assert.deepEqual(sb.status!.peers, { total: 3, connected: 2, lastHandshakeTime: '2026-01-01T00:00:01Z' });
  assert.equal(sb.status!.egress!.denied, 3);
  assert.equal(cond(sb, 'EgressEnforced')!.reason, 'Cooperative');
  const row = (await must(c, ['get', 'sandboxes', '-n', ns.name, 'st', '--no-headers'])).trim().split(/\s+/);
  assert.deepEqual(row.slice(0, 8), ['st', 'st', 'Sidecar', 'True', 'Ready', '100.64.0.9', '2', '3']);
});

test('re-applying the same manifest writes nothing: no spec drift, no status churn', async () => {
  const before = {
    writes: op.metrics.writeCount,
    sb: (await getSandbox('st')).metadata.resourceVersion,
    pod: (await getPod('st')).metadata!.resourceVersion,
  };
  const reconciles = async () =>
    (await op.metrics.reconcileTotal.get()).values.reduce((n, v) => n + v.value, 0);
  const r0 = await reconciles();
  const out = await apply('st', { agent: { image: 'a' }, datapath: { healthPort } });
  assert.match(out, /unchanged/);
  // Several poll-driven reconciles pass (pollIntervalMs 300): each one must decide there is nothing to write.
  await eventually('more reconciles', async () => (await reconciles()) >= r0 + 8);
  assert.equal(op.metrics.writeCount, before.writes, 'no write request was sent');
  assert.equal((await getSandbox('st')).metadata.resourceVersion, before.sb);
  assert.equal((await getPod('st')).metadata!.resourceVersion, before.pod);
});

test('an egress change updates the datapath config in place (same Pod) and the status', async () => {
  const pod0 = await getPod('st');
  await apply('st', {
    agent: { image: 'a' },
    datapath: { healthPort },
    egress: { rules: [{ host: '*.pypi.org', ports: ['443'] }] },
  });
  const pod = await eventually('the config annotation', async () => {
    const p = await getPod('st');
    return p.metadata!.annotations!['lattice.io/datapath-config'].includes('pypi') && p;
  });
  assert.equal(pod.metadata!.uid, pod0.metadata!.uid, 'the Pod was not replaced');
  const sb = await eventually('observedGeneration 2', async () => {
    const s = await getSandbox('st');
    return s.status?.observedGeneration === 2 && s;
  });
  assert.match(cond(sb, 'EgressEnforced')!.message, /1 egress rule, default Deny/);
  assert.equal(cond(sb, 'Ready')!.observedGeneration, 2);
});

test('a change to the Pod shape replaces the Pod and issues a new token; a deleted Pod is recreated with a new token', async () => {
  const pod0 = await getPod('st');
  const t0 = await token('st');
  await apply('st', {
    agent: { image: 'b' },
    datapath: { healthPort },
    egress: { rules: [{ host: '*.pypi.org', ports: ['443'] }] },
  });
  const pod1 = await eventually('a new Pod', async () => {
    const p = await getPod('st').catch(() => undefined);
    return p && p.metadata!.uid !== pod0.metadata!.uid && p;
  });
  assert.equal(pod1.spec!.containers[0].image, 'b');
  const t1 = await token('st');
  assert.notEqual(t1, t0);
  await admin.request('DELETE', api('pods', 'st'));
  const pod2 = await eventually('a recreated Pod', async () => {
    const p = await getPod('st').catch(() => undefined);
    return p && p.metadata!.uid !== pod1.metadata!.uid && p;
  });
  assert.equal(pod2.spec!.containers[0].image, 'b');
  assert.notEqual(await token('st'), t1);
  const pods = await admin.request<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${ns.name}/pods`, {
    query: { labelSelector: 'lattice.io/sandbox=st' },
  });
  assert.equal(pods.items.length, 1, 'never two Pods for one sandbox');
});

test('deleting a sandbox revokes its identity once, then GC removes its Secret and Pod', async () => {
  const name = `del-${suffix()}`;
  await apply(name, { agent: { image: 'a' } });
  await eventually('the Pod', () => getPod(name).catch(() => undefined));
  const sb = await getSandbox(name);
  assert.deepEqual(sb.metadata.finalizers, ['lattice.io/revoke-identity']);
  await must(c, ['delete', '-n', ns.name, `sandbox/${name}`, '--timeout=30s']);
  await eventually('Pod and Secret gone', async () => {
    const pod = await getPod(name).then(
      () => true,
      () => false,
    );
    const secret = await admin.request('GET', api('secrets', `${name}-enrollment`)).then(
      () => true,
      () => false,
    );
    return !pod && !secret;
  });
  assert.equal(revoker.calls(sb.metadata.uid!), 1);
  assert.deepEqual(
    revoker.revoked.find((r) => r.uid === sb.metadata.uid),
    { namespace: ns.name, name, uid: sb.metadata.uid, agentName: name },
  );
});

test('Events tell what the operator did; no token ever appears in its logs', async () => {
  const ev = await admin.request<{ items: { reason: string; regarding: { name: string } }[] }>(
    'GET',
    `/apis/events.k8s.io/v1/namespaces/${ns.name}/events`,
  );
  const reasons = new Set(ev.items.filter((e) => e.regarding.name === 'st').map((e) => e.reason));
  for (const r of ['PodCreated', 'PolicyUpdated', 'PodReplaced'])
    assert.ok(reasons.has(r), `${r} in ${[...reasons]}`);
  assert.ok(logs.length > 10, 'the operator logged at debug level');
  assert.ok(logs.some((l) => l.includes('issued enrollment token')));
  for (const l of logs) assert.doesNotMatch(l, /lt-[0-9a-f]{32}/);
});

test('the operator serves its metrics under controller-runtime names', async () => {
  const text = await op.metrics.registry.metrics();
  for (const m of [
    'controller_runtime_reconcile_total',
    'controller_runtime_reconcile_errors_total',
    'controller_runtime_reconcile_time_seconds',
    'workqueue_depth',
    'workqueue_adds_total',
    'workqueue_retries_total',
    'leader_election_master_status',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${m} `, 'm'), m);
  }
  assert.match(
    text,
    /controller_runtime_reconcile_total\{controller="latticesandbox",result="requeue_after"\} [1-9]/,
  );
});
