import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAllYaml } from '@kubernetes/client-node';
import { DEMO_AGENT_IMAGE, demoSandbox, missing, viewOf } from './plan.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const sample = (f: string) => loadAllYaml(readFileSync(join(ROOT, 'config/samples', f), 'utf8'))[0];

test('the demo rewrites only the agent image and the gVisor rootfs of the samples', () => {
  const o = { agentImage: DEMO_AGENT_IMAGE, rootfs: '/state/agent-rootfs' };
  const sidecar = sample('sidecar.yaml');
  const out = demoSandbox(sidecar, o);
  assert.equal((out.spec as { agent: { image: string } }).agent.image, DEMO_AGENT_IMAGE);
  // everything else is the sample as users read it, and the input is not modified
  const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
  assert.deepEqual(plain({ ...out, spec: { ...out.spec, agent: sidecar.spec.agent } }), plain(sidecar));
  assert.equal(sidecar.spec.agent.image, 'my-ai-agent:latest');
  const gvisor = demoSandbox(sample('gvisor.yaml'), o);
  assert.equal(
    (gvisor.spec as { gvisor: { rootfs: { hostPath: string } } }).gvisor.rootfs.hostPath,
    '/state/agent-rootfs',
  );
  assert.equal((gvisor.spec as { agent?: unknown }).agent, undefined);
  const other = { kind: 'ConfigMap', spec: { agent: { image: 'x' } } };
  assert.equal(demoSandbox(other, o), other);
});

test('the samples pair up: each sidecar agent names a peer that admits it on its forward', () => {
  const a = sample('sidecar.yaml');
  const b = sample('fenced.yaml');
  const peerOf = (s: typeof a) =>
    s.spec.agent.env.find((e: { name: string }) => e.name === 'PEER_AGENT')?.value;
  assert.equal(peerOf(a), b.metadata.name);
  assert.equal(peerOf(b), a.metadata.name);
  assert.ok(a.spec.forwards[0].allowFrom.includes(b.metadata.name));
  assert.ok(b.spec.forwards[0].allowFrom.includes(a.metadata.name));
});

const ready = { type: 'Ready', status: 'True' };
const full = {
  metadata: { name: 'agent-001' },
  spec: { mode: 'Sidecar', forwards: [{}] },
  status: {
    phase: 'Ready',
    overlayIP: '10.42.0.7',
    peers: { connected: 1, total: 1 },
    egress: { denied: 2, allowed: 3 },
    conditions: [ready],
  },
};

test('a sandbox that shows everything misses nothing', () => {
  assert.deepEqual(missing(viewOf(full)), []);
});

test('each gap is named, with the failing conditions and their messages', () => {
  const m = missing(
    viewOf({
      ...full,
      status: {
        phase: 'Starting',
        conditions: [
          { type: 'Ready', status: 'False', reason: 'PodReadyFalse', message: 'Pod agent-001 is Pending' },
          { type: 'Enrolled', status: 'True' },
        ],
      },
    }),
  );
  assert.deepEqual(m, [
    'not Ready; phase Starting; Ready=False (PodReadyFalse: Pod agent-001 is Pending)',
    'no overlay IP',
    'no connected peer (0 of 0)',
    'no denied connection yet',
    'no allowed connection yet (the peer fetch over the overlay)',
  ]);
  // no status at all
  assert.match(missing(viewOf({ metadata: { name: 'x' } }))[0], /no conditions yet/);
  // a sandbox without forwards (the gVisor sample) is not expected to fetch a peer
  const noForward = viewOf({
    ...full,
    spec: { mode: 'GVisor' },
    status: { ...full.status, egress: { denied: 1 } },
  });
  assert.deepEqual(missing(noForward), []);
});
