// The cluster's certificates: one throwaway CA, serving certs for etcd and the apiserver, client
// certs for each component's identity, and the service-account signing key. EC P-256 throughout
// (fast to generate); made with the openssl CLI; private keys are 0600 in a 0700 folder.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertPair;
  etcdServer: CertPair;
  apiServerEtcdClient: CertPair;
  apiServer: CertPair;
  admin: CertPair;
  controllerManager: CertPair;
  /** service-account token signing key (private) and its public half */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** Subject and SANs of every certificate; pure data, so tests can read it. */
export const CERTS = {
  etcdServer: {
    subject: '/CN=lattice-etcd',
    sans: ['IP:127.0.0.1', 'DNS:localhost'],
    usage: 'serverAuth,clientAuth',
  },
  apiServerEtcdClient: { subject: '/CN=kube-apiserver-etcd-client', sans: [], usage: 'clientAuth' },
  apiServer: {
    subject: '/CN=kube-apiserver',
    sans: [
      'IP:127.0.0.1',
      'IP:10.0.0.1',
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
    usage: 'serverAuth',
  },
  // O=system:masters is bound to cluster-admin by the apiserver's bootstrap RBAC.
  admin: { subject: '/O=system:masters/CN=lattice-admin', sans: [], usage: 'clientAuth' },
  // The bootstrap RBAC binds the user system:kube-controller-manager to its role.
  controllerManager: { subject: '/CN=system:kube-controller-manager', sans: [], usage: 'clientAuth' },
} as const;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl not found on PATH (apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

async function issue(dir: string, name: string, ca: CertPair, spec: (typeof CERTS)[keyof typeof CERTS]) {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const ext = [
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext',
    `extendedKeyUsage=${spec.usage}`,
  ];
  if (spec.sans.length > 0) ext.push('-addext', `subjectAltName=${spec.sans.join(',')}`);
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-subj',
    spec.subject,
    '-days',
    '365',
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    ...ext,
  ]);
  chmodSync(pair.key, 0o600);
  return pair;
}

export async function createPki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-subj',
    '/CN=lattice-test-ca',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  chmodSync(ca.key, 0o600);
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  const [etcdServer, apiServerEtcdClient, apiServer, admin, controllerManager] = await Promise.all([
    issue(dir, 'etcd-server', ca, CERTS.etcdServer),
    issue(dir, 'apiserver-etcd-client', ca, CERTS.apiServerEtcdClient),
    issue(dir, 'apiserver', ca, CERTS.apiServer),
    issue(dir, 'admin', ca, CERTS.admin),
    issue(dir, 'controller-manager', ca, CERTS.controllerManager),
    openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      serviceAccountKey,
    ]),
  ]);
  chmodSync(serviceAccountKey, 0o600);
  await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return {
    dir,
    ca,
    etcdServer,
    apiServerEtcdClient,
    apiServer,
    admin,
    controllerManager,
    serviceAccountKey,
    serviceAccountPub,
  };
}
