// Where the NATS trust chain lives in a cluster: the Secret `lattice-nats` in the operator's
// namespace, with `trust.json` (the three seeds, for the control plane) and `nats.conf` (the server
// configuration trusting them, mounted by the nats-server Pod). The first replica to start creates
// it; `create` is the arbiter, so two replicas starting together end up with the same keys.
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { generateTrustSeeds, loadTrust, serverConfig, type TrustSeeds } from './nats-trust.ts';

export const TRUST_SECRET = 'lattice-nats';

export interface NatsServerLayout {
  port: number;
  storeDir: string;
  resolverDir: string;
  httpPort?: number;
}

export const IN_CLUSTER_NATS: NatsServerLayout = {
  port: 4222,
  storeDir: '/data/jetstream',
  resolverDir: '/data/jwt',
  httpPort: 8222,
};

function parseSeeds(text: string | undefined): TrustSeeds | undefined {
  if (!text) return undefined;
  const s = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as TrustSeeds;
  loadTrust(s); // throws on a malformed seed
  return s;
}

export async function ensureTrustSecret(
  core: CoreV1Api,
  namespace: string,
  layout = IN_CLUSTER_NATS,
): Promise<TrustSeeds> {
  const read = async () => {
    try {
      const s = await core.readNamespacedSecret({ namespace, name: TRUST_SECRET });
      return parseSeeds(s.data?.['trust.json']);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing) return existing;
  const seeds = generateTrustSeeds();
  const conf = serverConfig(loadTrust(seeds), { host: '0.0.0.0', ...layout }, new Date());
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: TRUST_SECRET,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'lattice-control-plane' },
        },
        type: 'Opaque',
        data: {
          'trust.json': Buffer.from(JSON.stringify(seeds)).toString('base64'),
          'nats.conf': Buffer.from(conf).toString('base64'),
        },
      },
    });
    return seeds;
  } catch (err) {
    if (err instanceof ApiException && err.code === 409) {
      const won = await read();
      if (won) return won;
    }
    throw err;
  }
}
