// Test harness for operator e2e tests (not a test itself): the shared local control plane
// with the CRD and config/ RBAC applied, a namespace per test, an admin apiserver client,
// and `eventually` for conditions that converge.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Cluster, sharedCluster, startCluster } from '../../e2e/cluster/index.ts';
import { loadKubeConfig } from '../operator.ts';
import { KubeClient } from '../runtime/kube.ts';

// The shared polling helper, re-exported so that the operator's tests keep one import.
export { eventually } from '../../e2e/testing/eventually.ts';

export const ROOT = join(import.meta.dirname, '..', '..');

let prepared: Promise<Cluster> | undefined;

/** The shared cluster with crds/ and config/rbac applied (as admin) and the CRD established. */
export function cluster(): Promise<Cluster> {
  prepared ??= sharedCluster().then(install);
  return prepared;
}

/**
 * A cluster of its own (no NATS), for tests that hurt the control plane (restarting the
 * apiserver) and so must not share it with other test processes. Stop it when done.
 */
export async function privateCluster(): Promise<Cluster> {
  const c = await startCluster({ withNats: false });
  try {
    return await install(c);
  } catch (e) {
    await c.stop();
    throw e;
  }
}

async function install(c: Cluster): Promise<Cluster> {
  // Test processes share the cluster and install at the same moment; client-side apply is
  // get-then-create, so the slower of two creates fails with AlreadyExists. A second apply finds
  // the objects and patches them.
  const apply = (args: string[]) => must(c, args).catch(() => must(c, args));
  await apply(['apply', '-f', join(ROOT, 'crds/latticesandbox.yaml')]);
  await apply(['apply', '-k', join(ROOT, 'config/rbac')]);
  await must(c, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/latticesandboxes.lattice.io']);
  return c;
}

export async function must(c: Cluster, args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, input === undefined ? undefined : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export const suffix = () => randomBytes(3).toString('hex');

export async function namespace(
  c: Cluster,
  prefix: string,
): Promise<{ name: string; remove(): Promise<void> }> {
  const name = `${prefix}-${suffix()}`;
  await must(c, ['create', 'namespace', name]);
  return {
    name,
    remove: async () => {
      await c.kubectl(['delete', 'namespace', name, '--wait=false']);
    },
  };
}

export function adminClient(c: Cluster): KubeClient {
  return new KubeClient(loadKubeConfig(c.adminKubeconfig));
}

export const sandboxYAML = (name: string, ns: string, spec: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: 'lattice.io/v1alpha1',
    kind: 'LatticeSandbox',
    metadata: { name, namespace: ns },
    spec,
  });
