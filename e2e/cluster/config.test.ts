import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  apiServerSpec,
  etcdSpec,
  kubeconfig,
  layout,
  natsConfig,
  operatorIdentityManifest,
  type Ports,
} from './config.ts';

const L = layout('/tmp/x');
const ports: Ports = {
  etcdClient: 1,
  etcdPeer: 2,
  apiServer: 3,
  controllerManager: 4,
  nats: 5,
  natsMonitor: 6,
};
const pair = (n: string) => ({ cert: `/p/${n}.crt`, key: `/p/${n}.key` });
const pki = {
  ca: pair('ca'),
  etcdServer: pair('etcd'),
  apiServerEtcdClient: pair('etcd-client'),
  apiServer: pair('apiserver'),
  admin: pair('admin'),
  serviceAccountKey: '/p/sa.key',
  serviceAccountPub: '/p/sa.pub',
};
const bin = {
  etcd: 'etcd',
  etcdMinor: '3.6',
  kubeApiserver: 'kas',
  kubeControllerManager: 'kcm',
  natsServer: 'nats',
};

test('the apiserver listens on loopback only, with TLS, RBAC and the service-account key', () => {
  const argv = apiServerSpec(L, ports, pki, bin).argv;
  assert.ok(argv.includes('--bind-address=127.0.0.1'));
  assert.ok(argv.includes('--secure-port=3'));
  assert.ok(argv.includes('--authorization-mode=Node,RBAC'));
  assert.ok(argv.includes('--client-ca-file=/p/ca.crt'));
  assert.ok(argv.includes('--service-account-signing-key-file=/p/sa.key'));
  assert.ok(argv.includes('--etcd-servers=https://127.0.0.1:1'));
  assert.ok(!argv.some((a) => a.startsWith('--insecure')));
});

test('etcd requires client certificates and skips fsync only where the flag exists (3.5+)', () => {
  const argv = etcdSpec(L, ports, pki, bin).argv;
  assert.ok(argv.includes('--client-cert-auth=true'));
  assert.ok(argv.includes('--listen-client-urls=https://127.0.0.1:1'));
  assert.ok(argv.includes('--unsafe-no-fsync=true'));
  assert.ok(!etcdSpec(L, ports, pki, { ...bin, etcdMinor: '3.4' }).argv.includes('--unsafe-no-fsync=true'));
});

test('nats listens on loopback with JetStream stored in the state dir', () => {
  const conf = natsConfig(L, ports);
  assert.match(conf, /^listen: 127\.0\.0\.1:5$/m);
  assert.match(conf, /^http: 127\.0\.0\.1:6$/m);
  assert.match(conf, /store_dir: "\/tmp\/x\/nats"/);
});

test('a kubeconfig embeds the CA and either a client certificate or a token', () => {
  const byCert = JSON.parse(
    kubeconfig('https://127.0.0.1:3', 'CA', 'admin', { clientCertificateData: 'C', clientKeyData: 'K' }),
  );
  assert.equal(byCert.clusters[0].cluster.server, 'https://127.0.0.1:3');
  assert.equal(
    Buffer.from(byCert.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
    'CA',
  );
  assert.equal(Buffer.from(byCert.users[0].user['client-key-data'], 'base64').toString(), 'K');
  assert.equal(byCert['current-context'], 'admin@lattice');
  const byToken = JSON.parse(kubeconfig('https://127.0.0.1:3', 'CA', 'op', { token: 'T' }));
  assert.deepEqual(byToken.users[0].user, { token: 'T' });
});

test('the operator identity is a namespace and a ServiceAccount, with no RBAC of its own', () => {
  const list = JSON.parse(operatorIdentityManifest());
  assert.deepEqual(
    list.items.map((i: { kind: string }) => i.kind),
    ['Namespace', 'ServiceAccount'],
  );
});
