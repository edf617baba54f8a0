import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '../api/v1alpha1/defaults.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { ANNOTATION_CONFIG, ANNOTATION_HASH, desiredPod } from './pod.ts';

const settings = { serverURL: 'http://cp.lattice-system.svc:8080' };
const sandbox = (spec: LatticeSandbox['spec']): LatticeSandbox =>
  withDefaults({ metadata: { name: 'agent-1', namespace: 'ns', uid: 'u1', generation: 1 }, spec });

test('Sidecar: agent gets the proxy env; datapath is a native sidecar, non-root, read-only, no caps, probed, with defaults', () => {
  const pod = desiredPod(sandbox({ agent: { image: 'agent:1' } }), settings);
  assert.deepEqual(pod.metadata!.labels, {
    'lattice.io/agent': 'true',
    'lattice.io/sandbox': 'agent-1',
    'app.kubernetes.io/managed-by': 'lattice-operator',
  });
  assert.equal(pod.metadata!.ownerReferences![0].uid, 'u1');
  const [agent] = pod.spec!.containers;
  assert.equal(agent.image, 'agent:1');
  const env = Object.fromEntries(agent.env!.map((e) => [e.name, e.value]));
  assert.equal(env.ALL_PROXY, 'socks5h://127.0.0.1:1080');
  assert.equal(env.HTTPS_PROXY, 'http://127.0.0.1:1080');
  assert.equal(env.HTTP_PROXY, 'http://127.0.0.1:1080');
  assert.equal(env.NO_PROXY, 'localhost,127.0.0.1,.local');
  const [dp] = pod.spec!.initContainers!;
  assert.equal(dp.name, 'datapath');
  assert.equal(dp.restartPolicy, 'Always');
  assert.deepEqual(dp.securityContext!.capabilities, { drop: ['ALL'] });
  assert.equal(dp.securityContext!.readOnlyRootFilesystem, true);
  assert.equal(dp.securityContext!.runAsNonRoot, true);
  assert.deepEqual(dp.resources, {
    requests: { cpu: '100m', memory: '64Mi' },
    limits: { cpu: '200m', memory: '128Mi' },
  });
  assert.equal(dp.readinessProbe!.httpGet!.port, 15021);
  assert.equal(dp.livenessProbe!.httpGet!.path, '/healthz');
  assert.equal(dp.startupProbe!.httpGet!.path, '/readyz');
  assert.ok(!dp.args!.some((a) => a.startsWith('--token')), 'the token is never an argument (visible in ps)');
  assert.ok(dp.args!.includes('--name=agent-1'));
  assert.ok(dp.args!.includes('--proxy-addr=127.0.0.1:1080'));
  const tokenEnv = dp.env!.find((e) => e.name === 'LATTICE_TOKEN')!;
  assert.deepEqual(tokenEnv.valueFrom!.secretKeyRef, {
    name: 'agent-1-enrollment',
    key: 'token',
    optional: true,
  });
  assert.ok(dp.volumeMounts!.some((m) => m.mountPath === '/etc/lattice'));
  assert.ok(pod.spec!.volumes!.some((v) => v.name === 'lattice-state' && v.emptyDir));
  assert.equal(pod.spec!.automountServiceAccountToken, false);
});

test('Fenced adds an init container with NET_ADMIN, before the datapath; nothing else gets capabilities', () => {
  const pod = desiredPod(sandbox({ agent: { image: 'a' }, enforcement: 'Fenced' }), settings);
  const [fence, dp] = pod.spec!.initContainers!;
  assert.equal(fence.name, 'fence');
  assert.ok(fence.securityContext!.capabilities!.add!.includes('NET_ADMIN'));
  // the flags of `lattice sandbox fence` (datapath/fence/cli.ts)
  assert.deepEqual(fence.args, [
    'sandbox',
    'fence',
    '--datapath-uid=65532',
    '--proxy-port=1080',
    '--health-port=15021',
  ]);
  assert.deepEqual(dp.securityContext!.capabilities, { drop: ['ALL'] });
  assert.deepEqual(pod.spec!.containers[0].securityContext!.capabilities, { drop: ['ALL'] });
});

test('GVisor: one privileged datapath with --mode=gvisor, the rootfs volume, binary and args', () => {
  const pod = desiredPod(
    sandbox({
      mode: 'GVisor',
      gvisor: { rootfs: { hostPath: '/opt/rootfs' }, binary: '/bin/agent', args: ['--x', 'y'] },
    }),
    settings,
  );
  assert.equal(pod.spec!.initContainers, undefined);
  assert.equal(pod.spec!.containers.length, 1);
  const [dp] = pod.spec!.containers;
  assert.equal(dp.securityContext!.privileged, true);
  for (const a of [
    '--mode=gvisor',
    '--agent-rootfs=/agent-rootfs',
    '--agent-binary=/bin/agent',
    '--agent-arg=--x',
    '--agent-arg=y',
  ]) {
    assert.ok(dp.args!.includes(a), a);
  }
  assert.deepEqual(pod.spec!.volumes!.find((v) => v.name === 'agent-rootfs')!.hostPath, {
    path: '/opt/rootfs',
    type: 'Directory',
  });
  // the agent's network namespace is created under /run/netns (read-only root filesystem)
  assert.ok(dp.volumeMounts!.some((m) => m.name === 'netns' && m.mountPath === '/run/netns'));
  assert.ok(pod.spec!.volumes!.some((v) => v.name === 'netns' && v.emptyDir));
});

test('an egress change changes only the config annotation; an image change changes the hash', () => {
  const base = desiredPod(sandbox({ agent: { image: 'a' } }), settings);
  const egress = desiredPod(
    sandbox({ agent: { image: 'a' }, egress: { rules: [{ cidr: '10.0.0.0/8' }] } }),
    settings,
  );
  const image = desiredPod(sandbox({ agent: { image: 'b' } }), settings);
  assert.equal(base.metadata!.annotations![ANNOTATION_HASH], egress.metadata!.annotations![ANNOTATION_HASH]);
  assert.notEqual(
    base.metadata!.annotations![ANNOTATION_CONFIG],
    egress.metadata!.annotations![ANNOTATION_CONFIG],
  );
  assert.notEqual(
    base.metadata!.annotations![ANNOTATION_HASH],
    image.metadata!.annotations![ANNOTATION_HASH],
  );
  const cfg = JSON.parse(egress.metadata!.annotations![ANNOTATION_CONFIG]);
  assert.deepEqual(cfg.egress, { defaultAction: 'Deny', rules: [{ cidr: '10.0.0.0/8', action: 'Allow' }] });
});

test('the same sandbox always gives the same Pod (no spec drift)', () => {
  const s = sandbox({ agent: { image: 'a' }, forwards: [{ port: 80, target: '127.0.0.1:8080' }] });
  assert.deepEqual(desiredPod(s, settings), desiredPod(structuredClone(s), settings));
});
