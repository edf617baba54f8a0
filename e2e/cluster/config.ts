// Pure configuration of the local control plane: where each file lives in the state dir, the
// command line of each component, its health check, and the kubeconfigs. No I/O here.

export const SERVICE_CIDR = '10.0.0.0/24';
export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const OPERATOR_NAMESPACE = 'lattice-system';
export const OPERATOR_SERVICE_ACCOUNT = 'lattice-operator';

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'nats-server';

export interface HealthCheck {
  /** what it checks, for error messages */
  what: string;
  url: string;
  ca?: string;
  cert?: string;
  key?: string;
  /** a self-signed serving cert we did not issue (kube-controller-manager's) */
  insecure?: boolean;
  /** the body must contain this */
  expect: string;
}

export interface ComponentSpec {
  name: ComponentName;
  argv: string[];
  /** the listeners it opens, checked free before it starts */
  ports: { flag: string; port: number }[];
  health: HealthCheck;
  startTimeoutMs: number;
  /** SIGTERM, then SIGKILL after this long */
  stopGraceMs: number;
}

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  nats: number;
  natsMonitor: number;
}

export interface Layout {
  dir: string;
  pki: string;
  logs: string;
  pids: string;
  etcdData: string;
  natsStore: string;
  natsConfig: string;
  kcmCerts: string;
  apiServerCerts: string;
  adminKubeconfig: string;
  operatorKubeconfig: string;
  controllerManagerKubeconfig: string;
  plan: string;
  state: string;
  cluster: string;
  ownerPid: string;
  supervisorPid: string;
  supervisorLog: string;
  socket: string;
}

export function layout(dir: string): Layout {
  return {
    dir,
    pki: `${dir}/pki`,
    logs: `${dir}/logs`,
    pids: `${dir}/pids`,
    etcdData: `${dir}/etcd`,
    natsStore: `${dir}/nats`,
    natsConfig: `${dir}/nats.conf`,
    kcmCerts: `${dir}/kcm-certs`,
    apiServerCerts: `${dir}/apiserver-certs`,
    adminKubeconfig: `${dir}/admin.kubeconfig`,
    operatorKubeconfig: `${dir}/operator.kubeconfig`,
    controllerManagerKubeconfig: `${dir}/controller-manager.kubeconfig`,
    plan: `${dir}/plan.json`,
    state: `${dir}/state.json`,
    cluster: `${dir}/cluster.json`,
    ownerPid: `${dir}/owner.pid`,
    supervisorPid: `${dir}/supervisor.pid`,
    supervisorLog: `${dir}/logs/supervisor.log`,
    socket: `${dir}/supervisor.sock`,
  };
}

export interface PkiPaths {
  ca: { cert: string; key: string };
  etcdServer: { cert: string; key: string };
  apiServerEtcdClient: { cert: string; key: string };
  apiServer: { cert: string; key: string };
  admin: { cert: string; key: string };
  serviceAccountKey: string;
  serviceAccountPub: string;
}

export interface Binaries {
  etcd: string;
  etcdMinor: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  natsServer: string;
}

export function etcdSpec(l: Layout, p: Ports, pki: PkiPaths, bin: Binaries): ComponentSpec {
  const client = `https://127.0.0.1:${p.etcdClient}`;
  const peer = `https://127.0.0.1:${p.etcdPeer}`;
  const argv = [
    bin.etcd,
    '--name=lattice',
    `--data-dir=${l.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=lattice=${peer}`,
    '--initial-cluster-state=new',
    `--cert-file=${pki.etcdServer.cert}`,
    `--key-file=${pki.etcdServer.key}`,
    `--trusted-ca-file=${pki.ca.cert}`,
    '--client-cert-auth=true',
    `--peer-cert-file=${pki.etcdServer.cert}`,
    `--peer-key-file=${pki.etcdServer.key}`,
    `--peer-trusted-ca-file=${pki.ca.cert}`,
    '--peer-client-cert-auth=true',
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
  ];
  // Test data is thrown away on stop, so durability is not worth an fsync per write (3.5+ only).
  if (bin.etcdMinor !== '3.4') argv.push('--unsafe-no-fsync=true');
  return {
    name: 'etcd',
    argv,
    ports: [
      { flag: '--listen-client-urls', port: p.etcdClient },
      { flag: '--listen-peer-urls', port: p.etcdPeer },
    ],
    health: {
      what: `GET ${client}/health`,
      url: `${client}/health`,
      ca: pki.ca.cert,
      cert: pki.apiServerEtcdClient.cert,
      key: pki.apiServerEtcdClient.key,
      expect: '"health":"true"',
    },
    startTimeoutMs: 30_000,
    stopGraceMs: 10_000,
  };
}

export function apiServerArgs(l: Layout, p: Ports, pki: PkiPaths): string[] {
  return [
    `--etcd-servers=https://127.0.0.1:${p.etcdClient}`,
    `--etcd-cafile=${pki.ca.cert}`,
    `--etcd-certfile=${pki.apiServerEtcdClient.cert}`,
    `--etcd-keyfile=${pki.apiServerEtcdClient.key}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${p.apiServer}`,
    `--cert-dir=${l.apiServerCerts}`,
    `--tls-cert-file=${pki.apiServer.cert}`,
    `--tls-private-key-file=${pki.apiServer.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    `--service-account-issuer=${SA_ISSUER}`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    '--authorization-mode=Node,RBAC',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // The apiserver's own Endpoints would point at loopback, which Endpoints reject; nothing
    // in-cluster dials the kubernetes Service here (the node agent runs Pods as local processes).
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    '--profiling=false',
    '--v=1',
  ];
}

export function apiServerSpec(l: Layout, p: Ports, pki: PkiPaths, bin: Binaries): ComponentSpec {
  const url = `https://127.0.0.1:${p.apiServer}`;
  return {
    name: 'kube-apiserver',
    argv: [bin.kubeApiserver, ...apiServerArgs(l, p, pki)],
    ports: [{ flag: '--secure-port', port: p.apiServer }],
    health: {
      what: `GET ${url}/readyz`,
      url: `${url}/readyz`,
      ca: pki.ca.cert,
      cert: pki.admin.cert,
      key: pki.admin.key,
      expect: 'ok',
    },
    startTimeoutMs: 120_000,
    // it holds no state of its own, and its graceful shutdown can stall for many seconds right after start
    stopGraceMs: 3_000,
  };
}

export function controllerManagerSpec(l: Layout, p: Ports, pki: PkiPaths, bin: Binaries): ComponentSpec {
  const kc = l.controllerManagerKubeconfig;
  return {
    name: 'kube-controller-manager',
    argv: [
      bin.kubeControllerManager,
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${p.controllerManager}`,
      `--cert-dir=${l.kcmCerts}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      // every controller gets its own ServiceAccount, so RBAC applies to each as in a real cluster
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--cluster-name=lattice',
      '--profiling=false',
      '--v=1',
    ],
    ports: [{ flag: '--secure-port', port: p.controllerManager }],
    health: {
      what: `GET https://127.0.0.1:${p.controllerManager}/healthz`,
      url: `https://127.0.0.1:${p.controllerManager}/healthz`,
      insecure: true,
      expect: 'ok',
    },
    startTimeoutMs: 60_000,
    stopGraceMs: 3_000,
  };
}

export function natsConfig(l: Layout, p: Ports): string {
  return [
    'server_name: lattice-test',
    `listen: 127.0.0.1:${p.nats}`,
    `http: 127.0.0.1:${p.natsMonitor}`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(l.natsStore)}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 2GB',
    '}',
    '',
  ].join('\n');
}

export function natsSpec(l: Layout, p: Ports, bin: Binaries): ComponentSpec {
  const monitor = `http://127.0.0.1:${p.natsMonitor}`;
  return {
    name: 'nats-server',
    argv: [bin.natsServer, '-c', l.natsConfig],
    ports: [
      { flag: 'listen', port: p.nats },
      { flag: 'http', port: p.natsMonitor },
    ],
    health: {
      what: `GET ${monitor}/healthz?js-enabled-only=true`,
      url: `${monitor}/healthz?js-enabled-only=true`,
      expect: '"status":"ok"',
    },
    startTimeoutMs: 30_000,
    stopGraceMs: 5_000,
  };
}

export type KubeconfigUser = { clientCertificateData: string; clientKeyData: string } | { token: string };

/** A kubeconfig (JSON is YAML, and kubectl and client-node read both). PEMs are embedded, so the
 *  file is self-contained; it holds a credential, so write it 0600. */
export function kubeconfig(server: string, caPem: string, userName: string, user: KubeconfigUser): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const u =
    'token' in user
      ? { token: user.token }
      : {
          'client-certificate-data': b64(user.clientCertificateData),
          'client-key-data': b64(user.clientKeyData),
        };
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lattice', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: userName, user: u }],
      contexts: [{ name: `${userName}@lattice`, context: { cluster: 'lattice', user: userName } }],
      'current-context': `${userName}@lattice`,
      preferences: {},
    },
    null,
    2,
  )}\n`;
}

/** The namespace and ServiceAccount the operator runs as; RBAC for it comes from config/. */
export function operatorIdentityManifest(): string {
  return `${JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: OPERATOR_SERVICE_ACCOUNT, namespace: OPERATOR_NAMESPACE },
      },
    ],
  })}\n`;
}
