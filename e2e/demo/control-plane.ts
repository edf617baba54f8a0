// The demo's message bus for the control plane the operator serves (operator/controlplane/): an
// operator-mode nats-server that trusts the keys in the Secret lattice-system/lattice-nats. The
// demo creates that Secret first (the operator would otherwise create it with in-cluster paths),
// writes the server's configuration for this machine, and listens on the node agent's bridge
// address, so the datapaths in the Pods' network namespaces reach it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  generateTrustSeeds,
  loadTrust,
  serverConfig,
  type TrustSeeds,
} from '../../operator/controlplane/nats-trust.ts';
import { TRUST_SECRET } from '../../operator/controlplane/trust-store.ts';
import type { Cluster } from '../cluster/index.ts';
import { OPERATOR_NAMESPACE } from '../cluster/index.ts';

/** The trust seeds from the Secret, created with fresh ones if it does not exist yet. */
export async function ensureTrustSecret(c: Cluster): Promise<TrustSeeds> {
  const got = await c.kubectl(['get', 'secret', TRUST_SECRET, '-n', OPERATOR_NAMESPACE, '-o', 'json']);
  if (got.code === 0) {
    const data = JSON.parse(got.stdout).data?.['trust.json'];
    if (data) return JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as TrustSeeds;
  }
  const seeds = generateTrustSeeds();
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: TRUST_SECRET,
      namespace: OPERATOR_NAMESPACE,
      labels: { 'app.kubernetes.io/part-of': 'lattice-demo' },
    },
    data: { 'trust.json': Buffer.from(JSON.stringify(seeds)).toString('base64') },
  };
  const r = await c.kubectl(['create', '-f', '-'], { input: JSON.stringify(secret) });
  if (r.code !== 0) throw new Error(`creating Secret ${TRUST_SECRET}: ${r.stderr.trim()}`);
  return seeds;
}

/** Writes the nats-server configuration trusting seeds; returns its path. */
export function writeNatsConfig(
  dir: string,
  seeds: TrustSeeds,
  host: string,
  port: number,
  httpPort: number,
): string {
  mkdirSync(join(dir, 'jwt'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'js'), { recursive: true, mode: 0o700 });
  const conf = join(dir, 'nats.conf');
  const text = serverConfig(
    loadTrust(seeds),
    { host, port, httpPort, storeDir: join(dir, 'js'), resolverDir: join(dir, 'jwt') },
    new Date(),
  );
  writeFileSync(conf, text, { mode: 0o600 });
  return conf;
}

export function waitTcp(host: string, port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const attempt = () => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) resolve(false);
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}
