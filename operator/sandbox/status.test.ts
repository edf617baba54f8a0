import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { withDefaults } from '../api/v1alpha1/defaults.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { parseReport } from './report.ts';
import { computeStatus } from './status.ts';

const sb = (extra: Partial<LatticeSandbox> = {}): LatticeSandbox =>
  withDefaults({
    metadata: { name: 'a', namespace: 'ns', uid: 'u', generation: 3 },
    spec: { agent: { image: 'x' } },
    ...extra,
  });
const readyPod: V1Pod = {
  metadata: { name: 'a' },
  status: { phase: 'Running', podIP: '10.1.2.3', conditions: [{ type: 'Ready', status: 'True' }] },
};
const cond = (st: ReturnType<typeof computeStatus>, t: string) => st.conditions!.find((c) => c.type === t)!;
const t0 = new Date('2026-01-01T00:00:00Z');

test('no Pod yet: Pending, PodReady False, datapath conditions Unknown, observedGeneration set', () => {
  const st = computeStatus({ sandbox: sb(), pod: undefined, poll: undefined, token: undefined, now: t0 });
  assert.equal(st.phase, 'Pending');
  assert.equal(st.observedGeneration, 3);
  assert.equal(cond(st, 'PodReady').status, 'False');
  assert.equal(cond(st, 'Enrolled').status, 'Unknown');
  assert.equal(cond(st, 'EgressEnforced').reason, 'Cooperative');
  assert.equal(cond(st, 'Ready').status, 'False');
});

test('an unreachable datapath makes its conditions Unknown with the reason, not an error', () => {
  const st = computeStatus({
    sandbox: sb(),
    pod: readyPod,
    poll: { ok: false, reason: 'connect ECONNREFUSED' },
    token: undefined,
    now: t0,
  });
  assert.equal(cond(st, 'PodReady').status, 'True');
  assert.equal(cond(st, 'Enrolled').status, 'Unknown');
  assert.match(cond(st, 'Enrolled').message, /ECONNREFUSED/);
  assert.equal(cond(st, 'Ready').status, 'Unknown');
  assert.equal(st.phase, 'Degraded');
  assert.equal(st.datapath!.reachable, false);
});

test('a healthy report makes the sandbox Ready and fills overlay IP, peers, counters, audit', () => {
  const report = parseReport({
    identity: { enrolled: true, overlayIP: '100.64.0.7', publicKey: 'k' },
    overlay: { up: true, peers: [{ lastHandshake: '2026-01-01T00:00:00Z' }, {}] },
    egress: { allowed: 5, denied: 2, recentDenials: [{ dst: 'evil.com:443', rule: 'default', count: 2 }] },
    audit: { records: 9, streamed: 9, healthy: true },
    ready: { ready: true },
  });
  const s = sb({ spec: { mode: 'GVisor', gvisor: { rootfs: { hostPath: '/r' }, binary: '/b' } } });
  const st = computeStatus({
    sandbox: s,
    pod: readyPod,
    poll: { ok: true, report },
    token: undefined,
    now: t0,
  });
  assert.equal(st.phase, 'Ready');
  assert.equal(cond(st, 'Ready').status, 'True');
  assert.equal(cond(st, 'EgressEnforced').reason, 'KernelIsolated');
  assert.equal(st.overlayIP, '100.64.0.7');
  assert.deepEqual(st.peers, { total: 2, connected: 1, lastHandshakeTime: '2026-01-01T00:00:00Z' });
  assert.equal(st.egress!.denied, 2);
  assert.equal(st.audit!.records, 9);
});

test('computing the same world later gives an identical status (lastTransitionTime kept)', () => {
  const first = computeStatus({ sandbox: sb(), pod: readyPod, poll: undefined, token: undefined, now: t0 });
  const again = computeStatus({
    sandbox: sb({ status: first }),
    pod: readyPod,
    poll: undefined,
    token: undefined,
    now: new Date('2026-01-02T00:00:00Z'),
  });
  assert.deepEqual(again, first);
});

test('malformed /status documents never throw', () => {
  for (const doc of [null, 7, 'x', [], { peers: 'x', egress: [], audit: null, identity: { overlayIP: 5 } }]) {
    const r = parseReport(doc);
    assert.equal(typeof r, 'object');
  }
});

test('the datapath /status document as datapath/cli/start.ts and datapath/overlay/part.ts write it', () => {
  const r = parseReport({
    sandbox: { name: 'a', mode: 'enrolled', phase: 'running' },
    proxy: { listen: '127.0.0.1:1080' },
    egress: { defaultAction: 'deny', rules: ['allow 10.0.0.0/8'], generation: 1 },
    audit: {
      healthy: true,
      path: '/tmp/x',
      records: 4,
      seq: 4,
      writeErrors: 0,
      lastError: null,
      lastRecordTime: '2026-01-01T00:00:00.000Z',
    },
    overlay: {
      listenPort: 51820,
      publicKey: 'pub',
      addresses: ['10.42.0.7/32'],
      peers: [
        { publicKey: 'p1', lastHandshakeTime: Date.parse('2026-01-01T00:00:05Z'), connected: true },
        { publicKey: 'p2', lastHandshakeTime: 0, connected: false },
      ],
    },
    ready: { ready: true, checks: {} },
  });
  assert.equal(r.enrolled, true);
  assert.equal(r.overlayIP, '10.42.0.7');
  assert.equal(r.publicKey, 'pub');
  assert.equal(r.overlayUp, true);
  assert.deepEqual(r.peers, { total: 2, connected: 1, lastHandshakeTime: '2026-01-01T00:00:05Z' });
  assert.equal(r.egress, undefined, 'no counters in the document: none invented');
  assert.deepEqual(r.audit, {
    records: 4,
    lastRecordTime: '2026-01-01T00:00:00Z',
    streamed: undefined,
    healthy: true,
  });
  assert.equal(r.ready, true);
  const notYet = parseReport({ sandbox: { mode: 'enrolled', phase: 'enrolling' }, ready: { ready: false } });
  assert.equal(notYet.enrolled, false);
  assert.equal(notYet.ready, false);
});

test('an enrolled datapath: identity section and audit records streamed under bus.audit', () => {
  const r = parseReport({
    sandbox: { mode: 'enrolled' },
    identity: { enrolled: true, overlayIP: '10.42.0.9', publicKey: 'pk', enrolledAt: '2026-01-01T00:00:00Z' },
    audit: { records: 5, healthy: true },
    bus: { audit: { streamed: 4 } },
  });
  assert.equal(r.enrolled, true);
  assert.equal(r.overlayIP, '10.42.0.9');
  assert.equal(r.audit?.streamed, 4);
});

test('a Pod refused by admission is PodReady False / PodRejected with the reason, phase Failed', () => {
  const st = computeStatus({
    sandbox: sb(),
    pod: undefined,
    poll: undefined,
    token: undefined,
    now: t0,
    podRejected: 'pods "a" is forbidden: violates PodSecurity "restricted:latest"',
  });
  const c = cond(st, 'PodReady');
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'PodRejected');
  assert.match(c.message, /violates PodSecurity/);
  assert.equal(st.phase, 'Failed');
  assert.equal(cond(st, 'Ready').status, 'False');
});
