// Prepares a nats-server outside the cluster for the control plane (the demo, a VM): makes sure the
// trust Secret lattice-nats exists (the same create-or-conflict the operator does) and writes a
// nats-server configuration trusting it, for a server on this host.
//   node operator/controlplane/nats-setup.ts --kubeconfig FILE [--namespace lattice-system]
//        --conf FILE --port N --store-dir DIR [--host 127.0.0.1]
// Prints {"conf": FILE, "natsURL": "nats://HOST:N"}; then run `nats-server -c FILE` and start the
// operator with --nats-url. Needs a current nats-server (2.10+; e2e/cluster/build-tools.sh nats).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadTrust, serverConfig } from './nats-trust.ts';
import { ensureTrustSecret } from './trust-store.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    conf: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'store-dir': { type: 'string' },
  },
});
const need = (k: keyof typeof values): string => {
  const v = values[k];
  if (!v) {
    process.stderr.write(`nats-setup: --${k} is required\n`);
    process.exit(2);
  }
  return v;
};
const port = Number(need('port'));
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('nats-setup: --port must be 1-65535\n');
  process.exit(2);
}
const kc = new KubeConfig();
kc.loadFromFile(need('kubeconfig'));
const seeds = await ensureTrustSecret(kc.makeApiClient(CoreV1Api), values.namespace ?? 'lattice-system');
const store = need('store-dir');
mkdirSync(join(store, 'jwt'), { recursive: true });
const host = values.host ?? '127.0.0.1';
const conf = need('conf');
writeFileSync(
  conf,
  serverConfig(
    loadTrust(seeds),
    { host, port, storeDir: join(store, 'jetstream'), resolverDir: join(store, 'jwt') },
    new Date(),
  ),
  { mode: 0o600 },
);
process.stdout.write(`${JSON.stringify({ conf, natsURL: `nats://${host}:${port}` })}\n`);
