import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ContainerView, podStatus } from './pod-status.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const facts = { podIP: '10.244.1.2', hostIP: '10.244.1.1', startTime: t0, scheduledTime: t0 };
const view = (over: Partial<ContainerView>): ContainerView => ({
  name: 'c',
  image: 'node:24',
  role: 'main',
  state: { kind: 'running', startedAt: t0 },
  restartCount: 0,
  started: true,
  ready: true,
  final: false,
  ...over,
});
const cond = (s: ReturnType<typeof podStatus>, type: string) =>
  s.conditions?.find((c) => c.type === type)?.status;

test('a running, ready container makes the Pod Running and Ready with its IP', () => {
  const s = podStatus([view({})], facts, t0);
  assert.equal(s.phase, 'Running');
  assert.equal(s.podIP, '10.244.1.2');
  assert.equal(cond(s, 'Ready'), 'True');
  assert.equal(cond(s, 'ContainersReady'), 'True');
  assert.equal(cond(s, 'PodScheduled'), 'True');
});

test('a sidecar that has not started keeps the Pod Pending and not Initialized', () => {
  const s = podStatus(
    [
      view({ name: 'datapath', role: 'sidecar', started: false, ready: false }),
      view({ state: { kind: 'waiting', reason: 'PodInitializing' }, started: false, ready: false }),
    ],
    facts,
    t0,
  );
  assert.equal(s.phase, 'Pending');
  assert.equal(cond(s, 'Initialized'), 'False');
  assert.equal(s.initContainerStatuses?.[0].name, 'datapath');
});

test('an unready sidecar makes the Pod not Ready even when the app container is', () => {
  const s = podStatus([view({ name: 'datapath', role: 'sidecar', ready: false }), view({})], facts, t0);
  assert.equal(s.phase, 'Running');
  assert.equal(cond(s, 'Initialized'), 'True');
  assert.equal(cond(s, 'Ready'), 'False');
});

test('restartPolicy Never: a container that ended for good with exit 1 fails the Pod', () => {
  const ended = { kind: 'terminated' as const, exitCode: 1, reason: 'Error', startedAt: t0, finishedAt: t0 };
  const s = podStatus([view({ state: ended, final: true, ready: false })], facts, t0);
  assert.equal(s.phase, 'Failed');
  assert.equal(s.containerStatuses?.[0].state?.terminated?.exitCode, 1);
});

test('all containers done with exit 0 for good: Succeeded', () => {
  const ended = {
    kind: 'terminated' as const,
    exitCode: 0,
    reason: 'Completed',
    startedAt: t0,
    finishedAt: t0,
  };
  assert.equal(podStatus([view({ state: ended, final: true, ready: false })], facts, t0).phase, 'Succeeded');
});
