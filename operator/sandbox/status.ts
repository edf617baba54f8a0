// The sandbox status as a pure function of what the operator observed: the sandbox, its Pod,
// and the last datapath poll. Conditions keep their lastTransitionTime while their status
// is unchanged, so computing the same world twice gives the same object (no status churn).
import type { V1Pod } from '@kubernetes/client-node';
import type { Condition, LatticeSandbox, LatticeSandboxStatus } from '../api/v1alpha1/types.gen.ts';
import { agentNameOf } from './pod.ts';
import type { PollResult } from './report.ts';
import { secretName } from './token.ts';

export type Observed = {
  sandbox: LatticeSandbox;
  pod: V1Pod | undefined;
  poll: PollResult | undefined;
  token: { issuedAt?: string; expiresAt?: string } | undefined;
  /** Why the apiserver refused to create the Pod (admission, quota), if it did. */
  podRejected?: string;
  now: Date;
};

type CondStatus = 'True' | 'False' | 'Unknown';

export function setCondition(
  prev: Condition[] | undefined,
  type: string,
  status: CondStatus,
  reason: string,
  message: string,
  generation: number | undefined,
  now: Date,
): Condition {
  const old = prev?.find((c) => c.type === type);
  return {
    type,
    status,
    observedGeneration: generation,
    lastTransitionTime:
      old && old.status === status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    reason,
    message,
  };
}

const podReady = (pod: V1Pod | undefined) =>
  pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

export function computeStatus(o: Observed): LatticeSandboxStatus {
  const s = o.sandbox;
  const gen = s.metadata.generation;
  const prev = s.status?.conditions;
  const cond = (type: string, status: CondStatus, reason: string, message: string) =>
    setCondition(prev, type, status, reason, message, gen, o.now);
  const mode = s.spec.mode ?? 'Sidecar';
  const enforcement = mode === 'GVisor' ? 'KernelIsolated' : (s.spec.enforcement ?? 'Cooperative');
  const rules = s.spec.egress?.rules?.length ?? 0;
  const policy = `${rules} egress rule${rules === 1 ? '' : 's'}, default ${s.spec.egress?.defaultAction ?? 'Deny'}`;

  // PodReady: straight from the Pod.
  const pod = o.pod;
  const terminating = Boolean(s.metadata.deletionTimestamp);
  const podPhase = pod?.status?.phase;
  const podCond = o.podRejected
    ? cond(
        'PodReady',
        'False',
        'PodRejected',
        `the apiserver refused the Pod: ${o.podRejected}`.slice(0, 4000),
      )
    : !pod
      ? cond('PodReady', 'False', 'PodMissing', 'the sandbox Pod does not exist yet')
      : podReady(pod)
        ? cond('PodReady', 'True', 'PodReady', `Pod ${pod.metadata?.name} is ready`)
        : cond(
            'PodReady',
            'False',
            podPhase === 'Failed' ? 'PodFailed' : 'PodNotReady',
            `Pod ${pod.metadata?.name} is ${podPhase ?? 'Pending'}`,
          );

  // The datapath conditions: Unknown whenever we could not ask it.
  const poll = o.poll;
  const report = poll?.ok ? poll.report : undefined;
  const unknownWhy = !pod
    ? 'the sandbox Pod does not exist yet'
    : !pod.status?.podIP
      ? 'the Pod has no IP yet'
      : poll && !poll.ok
        ? `the datapath /status could not be read: ${poll.reason}`
        : 'the datapath has not been polled yet';
  const enrolled = report
    ? report.enrolled
      ? cond(
          'Enrolled',
          'True',
          'Enrolled',
          `enrolled as ${agentNameOf(s)}${report.overlayIP ? ` with overlay IP ${report.overlayIP}` : ''}`,
        )
      : cond('Enrolled', 'False', 'NotEnrolled', 'the datapath has not enrolled at the control plane yet')
    : cond('Enrolled', 'Unknown', 'DatapathUnreachable', unknownWhy);
  const overlay = report
    ? report.overlayUp === false || !report.enrolled
      ? cond('OverlayConnected', 'False', 'OverlayDown', 'the WireGuard overlay is not up')
      : cond(
          'OverlayConnected',
          'True',
          'OverlayUp',
          `${report.peers?.connected ?? 0} of ${report.peers?.total ?? 0} peers connected`,
        )
    : cond('OverlayConnected', 'Unknown', 'DatapathUnreachable', unknownWhy);
  const egress = report
    ? report.ready === false
      ? cond('EgressEnforced', 'False', enforcement, `the datapath is not ready; ${policy}`)
      : cond('EgressEnforced', 'True', enforcement, `${enforcementWords(enforcement)}; ${policy}`)
    : cond('EgressEnforced', 'Unknown', enforcement, `${unknownWhy}; ${policy}`);

  const parts = [podCond, enrolled, egress];
  const allTrue = parts.every((c) => c.status === 'True');
  const firstBad = parts.find((c) => c.status !== 'True');
  const ready = terminating
    ? cond('Ready', 'False', 'Terminating', 'the sandbox is being deleted')
    : allTrue
      ? cond('Ready', 'True', 'Ready', 'the sandbox is running, enrolled and enforcing its egress policy')
      : cond(
          'Ready',
          firstBad!.status === 'Unknown' ? 'Unknown' : 'False',
          `${firstBad!.type}${firstBad!.status === 'Unknown' ? 'Unknown' : 'False'}`,
          firstBad!.message,
        );

  let phase: string;
  if (terminating) phase = 'Terminating';
  else if (podPhase === 'Failed' || o.podRejected) phase = 'Failed';
  else if (allTrue) phase = report?.audit?.healthy === false ? 'Degraded' : 'Ready';
  else if (!pod || podPhase === 'Pending' || !podPhase) phase = 'Pending';
  else if (podReady(pod) && poll && !poll.ok) phase = 'Degraded';
  else phase = 'Starting';

  const status: LatticeSandboxStatus = {
    observedGeneration: gen,
    phase,
    agentName: agentNameOf(s),
    conditions: [ready, podCond, enrolled, overlay, egress],
    podName: pod?.metadata?.name,
    podIP: pod?.status?.podIP,
    enrollment: {
      tokenSecret: secretName(s.metadata.name!),
      issuedAt: o.token?.issuedAt,
      expiresAt: o.token?.expiresAt,
      consumedAt: report?.enrollment?.consumedAt ?? s.status?.enrollment?.consumedAt,
      enrolledAt: report?.enrollment?.enrolledAt ?? s.status?.enrollment?.enrolledAt,
    },
    datapath: {
      reachable: poll?.ok ?? false,
      message: poll && !poll.ok ? poll.reason.slice(0, 1000) : undefined,
    },
  };
  // What only the datapath knows: keep the last reported values while it cannot be reached,
  // so a blip does not blank `kubectl get sandboxes`; conditions say the data is stale.
  const last = s.status;
  status.overlayIP = report?.overlayIP ?? last?.overlayIP;
  status.publicKey = report?.publicKey ?? last?.publicKey;
  status.peers = report?.peers ?? last?.peers;
  status.egress = report?.egress ?? last?.egress;
  status.audit = report?.audit ?? last?.audit;
  return JSON.parse(JSON.stringify(status));
}

function enforcementWords(e: string): string {
  if (e === 'Fenced')
    return 'the agent reaches the network only through the proxy (direct connections are dropped)';
  if (e === 'KernelIsolated') return 'every packet of the agent goes through the datapath (gVisor)';
  return 'the agent is configured to use the proxy (not fenced)';
}
