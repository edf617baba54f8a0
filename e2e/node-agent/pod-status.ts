// A Pod's status from the state of its containers, by the kubelet's rules. Pure.
//   Initialized      every init container exited 0, every sidecar (restartable init container) started
//   ContainersReady  every container and sidecar is ready
//   Ready            = ContainersReady (readiness gates are not supported)
//   phase            Pending until initialized and a container ran; Running while one runs or will
//                    be restarted; Succeeded/Failed once every container ended for good.
import type { V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type ContainerRole = 'init' | 'sidecar' | 'main';

export type RunState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | {
      kind: 'terminated';
      exitCode: number;
      signal?: string;
      reason: string;
      startedAt: Date;
      finishedAt: Date;
    };

export interface ContainerView {
  name: string;
  image: string;
  role: ContainerRole;
  state: RunState;
  lastTerminated?: Extract<RunState, { kind: 'terminated' }>;
  restartCount: number;
  /** startup probe passed (or none) while running */
  started: boolean;
  /** readiness probe passes (or none) while running and started */
  ready: boolean;
  /** an ended container that will not run again (restart policy) */
  final: boolean;
  pid?: number;
}

function containerStatus(c: ContainerView): V1ContainerStatus {
  const state = (s: RunState): V1ContainerStatus['state'] => {
    if (s.kind === 'waiting') return { waiting: { reason: s.reason, message: s.message } };
    if (s.kind === 'running') return { running: { startedAt: s.startedAt } };
    return {
      terminated: {
        exitCode: s.exitCode,
        signal: undefined,
        reason: s.reason,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
      },
    };
  };
  return {
    name: c.name,
    image: c.image,
    imageID: `lattice-node-agent://${c.image}`,
    containerID: c.pid ? `lattice-node-agent://${c.pid}` : undefined,
    ready: c.ready,
    started: c.state.kind === 'running' ? c.started : false,
    restartCount: c.restartCount,
    state: state(c.state),
    lastState: c.lastTerminated ? state(c.lastTerminated) : {},
  };
}

const ended = (c: ContainerView) => c.state.kind === 'terminated' || (c.final && c.state.kind !== 'running');

export interface PodFacts {
  podIP?: string;
  hostIP: string;
  startTime: Date;
  scheduledTime: Date;
  /** set when the Pod cannot start at all (e.g. its network could not be made) */
  failure?: { reason: string; message: string };
}

export function podStatus(containers: ContainerView[], facts: PodFacts, now: Date): V1PodStatus {
  const inits = containers.filter((c) => c.role !== 'main');
  const mains = containers.filter((c) => c.role === 'main');
  const initialized = inits.every((c) =>
    c.role === 'init'
      ? c.state.kind === 'terminated' && c.state.exitCode === 0
      : c.state.kind === 'running' && c.started,
  );
  const initFailedForGood = inits.some(
    (c) => c.role === 'init' && c.final && c.state.kind === 'terminated' && c.state.exitCode !== 0,
  );
  const containersReady =
    mains.every((c) => c.ready) && inits.filter((c) => c.role === 'sidecar').every((c) => c.ready);
  let phase: string;
  if (facts.failure || initFailedForGood) phase = 'Failed';
  else if (mains.length > 0 && mains.every((c) => c.final && ended(c))) {
    phase = mains.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0)
      ? 'Succeeded'
      : 'Failed';
  } else if (initialized && mains.some((c) => c.state.kind === 'running' || c.restartCount > 0))
    phase = 'Running';
  else phase = 'Pending';

  const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => ({
    type,
    status: ok ? 'True' : 'False',
    lastTransitionTime: now,
    reason: ok ? undefined : reason,
  });
  return {
    phase,
    reason: facts.failure?.reason,
    message: facts.failure?.message,
    hostIP: facts.hostIP,
    hostIPs: [{ ip: facts.hostIP }],
    podIP: facts.podIP,
    podIPs: facts.podIP ? [{ ip: facts.podIP }] : undefined,
    startTime: facts.startTime,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: facts.scheduledTime },
      cond('Initialized', initialized, 'ContainersNotInitialized'),
      cond('ContainersReady', initialized && containersReady, 'ContainersNotReady'),
      cond('Ready', initialized && containersReady, 'ContainersNotReady'),
    ],
    initContainerStatuses: inits.length > 0 ? inits.map(containerStatus) : undefined,
    containerStatuses: mains.map(containerStatus),
  };
}

/** Conditions keep their lastTransitionTime while their status does not change. */
export function keepTransitionTimes(next: V1PodStatus, prev: V1PodStatus | undefined): V1PodStatus {
  const before = new Map((prev?.conditions ?? []).map((c) => [c.type, c]));
  for (const c of next.conditions ?? []) {
    const p = before.get(c.type);
    if (p && p.status === c.status && p.lastTransitionTime) c.lastTransitionTime = p.lastTransitionTime;
  }
  return next;
}
