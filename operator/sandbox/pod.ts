// The Pod a sandbox runs in, as a pure function of the (defaulted) LatticeSandbox and the
// operator's settings. Two parts with two update paths:
// - the Pod shape (containers, images, flags, security): hashed into `lattice.io/pod-spec-hash`;
//   a different hash means the Pod is replaced (Pod specs are immutable);
// - the datapath config (egress policy, forwards) in the annotation `lattice.io/datapath-config`,
//   projected into the datapath by a downwardAPI volume at /etc/lattice-spec/config.json:
//   changing a rule patches the annotation, the kubelet refreshes the file and the datapath
//   reloads it — no restart, no new enrollment.
import { createHash } from 'node:crypto';
import type { V1Container, V1EnvVar, V1Pod, V1Probe, V1SecurityContext } from '@kubernetes/client-node';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { secretName, TOKEN_KEY } from './token.ts';

export const LABEL_AGENT = 'lattice.io/agent';
export const LABEL_SANDBOX = 'lattice.io/sandbox';
export const ANNOTATION_HASH = 'lattice.io/pod-spec-hash';
export const ANNOTATION_CONFIG = 'lattice.io/datapath-config';
export const ANNOTATION_INCARNATION = 'lattice.io/incarnation';
export const DATAPATH_UID = 65532;
export const AGENT_UID = 65533;
export const CONFIG_DIR = '/etc/lattice';
export const SPEC_DIR = '/etc/lattice-spec';
export const ROOTFS_DIR = '/agent-rootfs';

export type PodSettings = {
  /** Control-plane URL the datapath enrolls at. */
  serverURL: string;
  /** Overrides spec.datapath.image when set (operator-wide pin). */
  datapathImage?: string;
};

export const agentNameOf = (s: LatticeSandbox) => s.spec.agentName ?? s.metadata.name!;

/** The datapath's config file: everything that may change without replacing the Pod. */
export function datapathConfig(s: LatticeSandbox): string {
  const spec = s.spec;
  return JSON.stringify({
    name: agentNameOf(s),
    egress: { defaultAction: spec.egress?.defaultAction ?? 'Deny', rules: spec.egress?.rules ?? [] },
    forwards: spec.forwards ?? [],
  });
}

const probe = (path: string, port: number, o: Partial<V1Probe>): V1Probe => ({
  httpGet: { path, port, scheme: 'HTTP' },
  periodSeconds: 10,
  timeoutSeconds: 2,
  failureThreshold: 3,
  ...o,
});

const locked = (uid: number): V1SecurityContext => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Flags of `lattice sandbox start` that follow from the spec (the policy comes from --config). */
export function datapathArgs(s: LatticeSandbox, settings: PodSettings): string[] {
  const spec = s.spec;
  const name = agentNameOf(s);
  const args = [
    'sandbox',
    'start',
    `--name=${name}`,
    `--server-url=${settings.serverURL}`,
    // The token is not an argument: the datapath reads LATTICE_TOKEN (env below) itself, so it never
    // appears in a process listing (/proc/PID/cmdline is world-readable, the environment is not).
    `--proxy-addr=127.0.0.1:${spec.proxy?.port ?? 1080}`,
    `--health-addr=0.0.0.0:${spec.datapath?.healthPort ?? 15021}`,
    `--config=${SPEC_DIR}/config.json`,
    `--audit-path=/tmp/lattice-audit-${name}.jsonl`,
    `--log-level=${spec.datapath?.logLevel ?? 'info'}`,
  ];
  if (spec.mode === 'GVisor') {
    args.push('--mode=gvisor', `--agent-rootfs=${ROOTFS_DIR}`, `--agent-binary=${spec.gvisor!.binary}`);
    for (const a of spec.gvisor!.args ?? []) args.push(`--agent-arg=${a}`);
  }
  return args;
}

export function proxyEnv(port: number): V1EnvVar[] {
  return [
    { name: 'ALL_PROXY', value: `socks5h://127.0.0.1:${port}` },
    { name: 'HTTPS_PROXY', value: `http://127.0.0.1:${port}` },
    { name: 'HTTP_PROXY', value: `http://127.0.0.1:${port}` },
    { name: 'NO_PROXY', value: 'localhost,127.0.0.1,.local' },
  ];
}

function datapathContainer(s: LatticeSandbox, settings: PodSettings): V1Container {
  const spec = s.spec;
  const hp = spec.datapath?.healthPort ?? 15021;
  const gvisor = spec.mode === 'GVisor';
  const c: V1Container = {
    name: 'datapath',
    image: settings.datapathImage ?? spec.datapath?.image,
    args: datapathArgs(s, settings),
    env: [
      {
        name: 'LATTICE_TOKEN', // optional: the control plane removes the token once consumed; a restarted container then resumes
        // from its credentials in /etc/lattice and needs no token.
        valueFrom: { secretKeyRef: { name: secretName(s.metadata.name!), key: TOKEN_KEY, optional: true } },
      },
      { name: 'LATTICE_CONFIG_DIR', value: CONFIG_DIR },
      // The datapath enrolls as <namespace>/<name> (datapath/enroll/identity.ts).
      {
        name: 'LATTICE_NAMESPACE',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      },
    ],
    ports: [{ name: 'health', containerPort: hp, protocol: 'TCP' }],
    volumeMounts: [
      { name: 'lattice-state', mountPath: CONFIG_DIR },
      { name: 'lattice-spec', mountPath: SPEC_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    resources: spec.datapath?.resources,
    // The agent starts only after the datapath is ready: as a native sidecar (init container
    // with restartPolicy Always) its startup probe gates the regular containers.
    startupProbe: probe('/readyz', hp, { periodSeconds: 1, failureThreshold: 120 }),
    readinessProbe: probe('/readyz', hp, {}),
    livenessProbe: probe('/healthz', hp, {}),
    securityContext: locked(DATAPATH_UID),
  };
  if (gvisor) {
    c.volumeMounts!.push({ name: 'agent-rootfs', mountPath: ROOTFS_DIR, readOnly: true });
    // `ip netns add` (the agent's namespace, datapath/gvisor) writes under /run/netns, which the
    // read-only root filesystem does not allow
    c.volumeMounts!.push({ name: 'netns', mountPath: '/run/netns' });
    // runsc needs root and the privileges to build the agent's sandbox; GVisor mode is the
    // isolation boundary, and the agent itself runs non-root inside it (datapath/gvisor).
    c.securityContext = {
      privileged: true,
      runAsNonRoot: false,
      runAsUser: 0,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: true,
      seccompProfile: { type: 'RuntimeDefault' },
    };
  }
  return c;
}

function agentContainer(s: LatticeSandbox): V1Container {
  const a = s.spec.agent!;
  const port = s.spec.proxy?.port ?? 1080;
  return {
    name: 'agent',
    image: a.image,
    imagePullPolicy: a.imagePullPolicy,
    command: a.command,
    args: a.args,
    env: [...(a.env ?? []), ...proxyEnv(port)] as V1EnvVar[],
    envFrom: a.envFrom,
    ports: a.ports,
    resources: a.resources,
    securityContext: { ...locked(AGENT_UID), readOnlyRootFilesystem: false },
  };
}

function fenceContainer(s: LatticeSandbox, settings: PodSettings): V1Container {
  return {
    name: 'fence',
    image: settings.datapathImage ?? s.spec.datapath?.image,
    // Installs rules in the Pod's network namespace: only the datapath's UID and loopback may
    // open connections, so the agent cannot go around the proxy.
    args: [
      'sandbox',
      'fence',
      `--datapath-uid=${DATAPATH_UID}`,
      `--proxy-port=${s.spec.proxy?.port ?? 1080}`,
      `--health-port=${s.spec.datapath?.healthPort ?? 15021}`,
    ],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsNonRoot: false,
      runAsUser: 0,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

/** The Pod without the hash annotation. */
function podShape(s: LatticeSandbox, settings: PodSettings): V1Pod {
  const spec = s.spec;
  const name = s.metadata.name!;
  const gvisor = spec.mode === 'GVisor';
  const datapath = datapathContainer(s, settings);
  const init: V1Container[] = [];
  if (!gvisor && spec.enforcement === 'Fenced') init.push(fenceContainer(s, settings));
  const volumes: V1Pod['spec'] extends infer P ? (P extends { volumes?: infer V } ? V : never) : never = [
    { name: 'lattice-state', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    {
      name: 'lattice-spec',
      downwardAPI: {
        items: [
          { path: 'config.json', fieldRef: { fieldPath: `metadata.annotations['${ANNOTATION_CONFIG}']` } },
        ],
      },
    },
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
  ];
  if (gvisor)
    volumes.push(
      {
        name: 'agent-rootfs',
        hostPath: { path: spec.gvisor!.rootfs.hostPath, type: 'Directory' },
      },
      { name: 'netns', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    );
  let containers: V1Container[];
  if (gvisor) {
    containers = [datapath];
  } else {
    init.push({ ...datapath, restartPolicy: 'Always' });
    containers = [agentContainer(s)];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: s.metadata.namespace,
      labels: {
        [LABEL_AGENT]: 'true',
        [LABEL_SANDBOX]: name,
        'app.kubernetes.io/managed-by': 'lattice-operator',
      },
      ownerReferences: [
        {
          apiVersion: 'lattice.io/v1alpha1',
          kind: 'LatticeSandbox',
          name,
          uid: s.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      restartPolicy: 'Always',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      securityContext: {
        runAsNonRoot: !gvisor && spec.enforcement !== 'Fenced',
        fsGroup: DATAPATH_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: init.length > 0 ? init : undefined,
      containers,
      volumes,
    },
  };
}

/** The desired Pod: shape + hash + datapath config annotation. */
export function desiredPod(s: LatticeSandbox, settings: PodSettings): V1Pod {
  const pod = podShape(s, settings);
  const clean = JSON.parse(JSON.stringify(pod)) as V1Pod;
  clean.metadata!.annotations = {
    [ANNOTATION_HASH]: podHash(clean),
    [ANNOTATION_CONFIG]: datapathConfig(s),
  };
  return clean;
}

export function podHash(pod: V1Pod): string {
  return createHash('sha256')
    .update(JSON.stringify({ labels: pod.metadata?.labels, spec: pod.spec }))
    .digest('hex')
    .slice(0, 16);
}
