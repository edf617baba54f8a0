// The CRD against a real kube-apiserver: samples apply, kubectl prints the columns, and every
// invalid object is rejected with the message written in crds/schema.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { cluster, must, namespace, ROOT, sandboxYAML } from '../testing/harness.ts';

let c: Cluster;
let ns: { name: string; remove(): Promise<void> };
before(async () => {
  c = await cluster();
  ns = await namespace(c, 'crd');
});
after(async () => {
  await ns?.remove();
});

test('each sample applies, and kubectl get sandboxes / sandbox / lattice print the columns', async () => {
  for (const f of ['sidecar.yaml', 'fenced.yaml', 'gvisor.yaml']) {
    const out = await must(c, ['apply', '-n', ns.name, '-f', join(ROOT, 'config/samples', f)]);
    assert.match(out, /latticesandbox\.lattice\.io\/agent-00\d created/);
  }
  const table = await must(c, ['get', 'sandboxes', '-n', ns.name]);
  assert.match(
    table.split('\n')[0],
    /^NAME\s+AGENT\s+MODE\s+READY\s+PHASE\s+OVERLAY IP\s+PEERS\s+DENIED\s+AGE$/,
  );
  assert.match(table, /agent-003\s+.*GVisor/);
  assert.equal(
    (await must(c, ['get', 'sandbox', 'agent-001', '-n', ns.name, '-o', 'name'])).trim(),
    'latticesandbox.lattice.io/agent-001',
  );
  assert.match(await must(c, ['get', 'lattice', '-n', ns.name]), /agent-002/);
  // defaults were applied by the apiserver
  const stored = JSON.parse(await must(c, ['get', 'sandbox', 'agent-002', '-n', ns.name, '-o', 'json']));
  assert.equal(stored.spec.mode, 'Sidecar');
  assert.equal(stored.spec.egress.defaultAction, 'Deny');
  assert.equal(stored.spec.proxy.port, 1080);
  assert.deepEqual(stored.spec.datapath.resources, {
    requests: { cpu: '100m', memory: '64Mi' },
    limits: { cpu: '200m', memory: '128Mi' },
  });
});

const image = { agent: { image: 'a' } };
const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['bad agent name', { ...image, agentName: 'Agent_1' }, /agentName must be a DNS-1123 label/],
  ['bad CIDR', { ...image, egress: { rules: [{ cidr: '10.0.0.0/33' }] } }, /must be an IPv4 or IPv6 CIDR/],
  [
    'bad IPv6 CIDR',
    { ...image, egress: { rules: [{ cidr: 'fd00::/129' }] } },
    /must be an IPv4 or IPv6 CIDR/,
  ],
  [
    'forward port 0',
    { ...image, forwards: [{ port: 0, target: '127.0.0.1:80' }] },
    /port.*greater than or equal to 1/,
  ],
  [
    'forward port 70000',
    { ...image, forwards: [{ port: 70000, target: '127.0.0.1:80' }] },
    /port.*less than or equal to 65535/,
  ],
  [
    'egress port 70000',
    { ...image, egress: { rules: [{ cidr: '10.0.0.0/8', ports: ['70000'] }] } },
    /ports must be between 1 and 65535/,
  ],
  ['egress port 0', { ...image, egress: { rules: [{ cidr: '10.0.0.0/8', ports: ['0'] }] } }, /ports\[0\]/],
  [
    'port range reversed',
    { ...image, egress: { rules: [{ cidr: '10.0.0.0/8', ports: ['9000-8000'] }] } },
    /LOW <= HIGH/,
  ],
  [
    'host and cidr together',
    { ...image, egress: { rules: [{ cidr: '10.0.0.0/8', host: 'a.b' }] } },
    /exactly one of cidr or host/,
  ],
  ['bad wildcard', { ...image, egress: { rules: [{ host: 'pypi.*' }] } }, /host/],
  [
    'expiresAt not a time',
    { ...image, egress: { rules: [{ host: 'a.b', expiresAt: 'tomorrow' }] } },
    /date-time/,
  ],
  [
    'expiresAt zero time',
    { ...image, egress: { rules: [{ host: 'a.b', expiresAt: '0001-01-01T00:00:00Z' }] } },
    /after the year 2000/,
  ],
  [
    'gvisor block in Sidecar mode',
    { ...image, gvisor: { rootfs: { hostPath: '/r' }, binary: '/b' } },
    /only allowed with mode GVisor/,
  ],
  ['GVisor without gvisor block', { mode: 'GVisor' }, /needs a gvisor block/],
  [
    'duplicate forward port',
    {
      ...image,
      forwards: [
        { port: 80, target: 'a:1' },
        { port: 80, target: 'a:2' },
      ],
    },
    /forward ports must be unique/,
  ],
  ['bad forward target', { ...image, forwards: [{ port: 80, target: '127.0.0.1' }] }, /target/],
  [
    'target port 70000',
    { ...image, forwards: [{ port: 80, target: '127.0.0.1:70000' }] },
    /target port must be between 1 and 65535/,
  ],
  [
    'bad allowFrom',
    { ...image, forwards: [{ port: 80, target: 'a:1', allowFrom: ['Not A Name'] }] },
    /allowFrom entries/,
  ],
  ['Sidecar without image', {}, /needs agent.image/],
  [
    'proxy env override',
    { agent: { image: 'a', env: [{ name: 'HTTPS_PROXY', value: 'x' }] } },
    /proxy variables are set by the operator/,
  ],
  [
    'too many rules',
    { ...image, egress: { rules: Array.from({ length: 129 }, () => ({ cidr: '10.0.0.0/8' })) } },
    /Too many|must have at most 128/,
  ],
];

for (const [what, spec, message] of invalid) {
  test(`rejected: ${what}`, async () => {
    const r = await c.kubectl(['apply', '-f', '-'], {
      input: sandboxYAML(`bad-${Math.random().toString(36).slice(2, 8)}`, ns.name, spec),
    });
    assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(spec)}`);
    assert.match(r.stderr, message);
  });
}

test('a bad sandbox name is rejected in words', async () => {
  const r = await c.kubectl(['apply', '-f', '-'], { input: sandboxYAML('a.b', ns.name, image) });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the sandbox name must be a DNS-1123 label/);
});

test('mode, agentName cannot change on update; egress can', async () => {
  const name = 'immutable';
  await must(c, ['apply', '-f', '-'], sandboxYAML(name, ns.name, { ...image, agentName: 'one' }));
  const mode = await c.kubectl(['apply', '-f', '-'], {
    input: sandboxYAML(name, ns.name, {
      agentName: 'one',
      mode: 'GVisor',
      gvisor: { rootfs: { hostPath: '/r' }, binary: '/b' },
    }),
  });
  assert.notEqual(mode.code, 0);
  assert.match(mode.stderr, /mode cannot be changed/);
  const agent = await c.kubectl(['apply', '-f', '-'], {
    input: sandboxYAML(name, ns.name, { ...image, agentName: 'two' }),
  });
  assert.notEqual(agent.code, 0);
  assert.match(agent.stderr, /agentName cannot be changed/);
  const removed = await c.kubectl(['apply', '-f', '-'], { input: sandboxYAML(name, ns.name, image) });
  assert.notEqual(removed.code, 0);
  assert.match(removed.stderr, /agentName cannot be added or removed/);
  await must(
    c,
    ['apply', '-f', '-'],
    sandboxYAML(name, ns.name, { ...image, agentName: 'one', egress: { rules: [{ cidr: '10.0.0.0/8' }] } }),
  );
});

test('config/default (CRD, namespace, RBAC, Deployment) is accepted by the apiserver (server-side dry run)', async () => {
  const out = await must(c, ['apply', '--dry-run=server', '-k', join(ROOT, 'config/default')]);
  assert.match(out, /deployment\.apps\/lattice-operator (created|configured|unchanged) \(server dry run\)/);
  assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/lattice-operator/);
  const manager = await must(c, ['kustomize', join(ROOT, 'config/manager')]);
  for (const want of [
    'replicas: 2',
    '--leader-elect=true',
    'readOnlyRootFilesystem: true',
    'type: RuntimeDefault',
    '- ALL',
    'runAsNonRoot: true',
  ]) {
    assert.ok(manager.includes(want), want);
  }
});
