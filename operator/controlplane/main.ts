// Runs the control plane alone (tests run replicas of it as processes; the operator embeds
// ControlPlane itself). Settings come from flags, each with an environment fallback:
//   --kubeconfig FILE          (KUBECONFIG; in-cluster when unset)
//   --namespace NS             (LATTICE_NAMESPACE, default lattice-system) where claims live
//   --host ADDR --port N       (LATTICE_CP_HOST default 0.0.0.0 / LATTICE_CP_PORT default 8080)
//   --nats-url URL             (LATTICE_NATS_URL) --bus-url URL (advertised to datapaths)
//   --trust-file FILE          (LATTICE_NATS_TRUST_FILE) JSON {operator, systemAccount, account} seeds, mode 0600
//   --pool CIDR                (LATTICE_OVERLAY_POOL, default 10.42.0.0/16)
//   --static-peers FILE        (LATTICE_STATIC_PEERS_FILE) JSON list of peers added to every netmap
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { ControlPlane } from './control-plane.ts';
import type { TrustSeeds } from './nats-trust.ts';
import { loadStaticPeers } from './static-peers-file.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'nats-url': { type: 'string' },
    'bus-url': { type: 'string' },
    'trust-file': { type: 'string' },
    pool: { type: 'string' },
    'static-peers': { type: 'string' },
  },
});

function fail(msg: string): never {
  process.stderr.write(`control plane: ${msg}\n`);
  process.exit(2);
}

const kc = new KubeConfig();
const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
if (kubeconfig) kc.loadFromFile(kubeconfig);
else kc.loadFromCluster();
const natsURL = values['nats-url'] ?? process.env.LATTICE_NATS_URL ?? fail('--nats-url is required');
const trustFile =
  values['trust-file'] ?? process.env.LATTICE_NATS_TRUST_FILE ?? fail('--trust-file is required');
if ((statSync(trustFile).mode & 0o077) !== 0)
  fail(`${trustFile} must not be readable by group or others (chmod 600)`);
const trustSeeds = JSON.parse(readFileSync(trustFile, 'utf8')) as TrustSeeds;
const port = Number(values.port ?? process.env.LATTICE_CP_PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0-65535');

const cp = new ControlPlane({
  kubeConfig: kc,
  namespace: values.namespace ?? process.env.LATTICE_NAMESPACE ?? 'lattice-system',
  host: values.host ?? process.env.LATTICE_CP_HOST ?? '0.0.0.0',
  port,
  natsURL,
  busURL: values['bus-url'] ?? process.env.LATTICE_BUS_URL,
  trustSeeds,
  pool: values.pool ?? process.env.LATTICE_OVERLAY_POOL,
  staticPeers: loadStaticPeers(values['static-peers'] ?? process.env.LATTICE_STATIC_PEERS_FILE),
});
await cp.start();
process.stdout.write(`${JSON.stringify({ listening: cp.url })}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    cp.stop().finally(() => process.exit(0));
  });
}
