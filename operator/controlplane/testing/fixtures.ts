// Test infrastructure for control-plane e2e tests: the shared local cluster with the CRD installed,
// throwaway namespaces, sandboxes and their token Secrets created the way the reconciler creates them
// (newTokenSecret, owner reference), and a control plane against a real operator-mode nats-server.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type Cluster, sharedCluster } from '../../../e2e/cluster/index.ts';
import { GROUP, PLURAL, VERSION } from '../kube-store.ts';
import { newTokenSecret, type SecretLike } from '../token-secret.ts';

export const suffix = () => randomBytes(3).toString('hex');

export interface Env {
  cluster: Cluster;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

let crdReady: Promise<void> | undefined;

export async function env(): Promise<Env> {
  const cluster = await sharedCluster();
  crdReady ??= (async () => {
    const crd = join(import.meta.dirname, '../../../crds/latticesandbox.yaml');
    const r = await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', crd]);
    if (r.code !== 0) throw new Error(`applying the CRD failed: ${r.stderr}`);
    const w = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/latticesandboxes.lattice.io',
    ]);
    if (w.code !== 0) throw new Error(`the CRD did not become Established: ${w.stderr}`);
  })();
  await crdReady;
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.adminKubeconfig);
  return { cluster, kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

/**
 * The control plane's identity for tests: the operator's ServiceAccount, bound only by
 * config/controlplane/rbac.yaml — its namespaced Role moved to `claimsNamespace` (each test keeps
 * its claims apart) — so a verb missing from the manifest fails the test.
 */
export async function controlPlaneKubeConfig(
  e: Env,
  claimsNamespace: string,
): Promise<{ kc: KubeConfig; path: string }> {
  const text = readFileSync(join(import.meta.dirname, '../../../config/controlplane/rbac.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map(
    (d) => d.toJS() as { kind: string; metadata: { namespace?: string } },
  );
  for (const d of docs)
    if (d.kind === 'Role' || d.kind === 'RoleBinding') d.metadata.namespace = claimsNamespace;
  const r = await e.cluster.kubectl(['apply', '-f', '-'], {
    input: docs.map((d) => JSON.stringify(d)).join('\n---\n'),
  });
  if (r.code !== 0) throw new Error(`applying config/controlplane/rbac.yaml failed: ${r.stderr}`);
  const kc = new KubeConfig();
  kc.loadFromFile(e.cluster.operatorKubeconfig);
  return { kc, path: e.cluster.operatorKubeconfig };
}

export async function namespace(e: Env, prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`;
  await e.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(e: Env, name: string): Promise<void> {
  await e.core.deleteNamespace({ name }).catch(() => {});
}

export interface TestSandbox {
  namespace: string;
  name: string;
  uid: string;
  token: string;
  secret: SecretLike;
}

/** A LatticeSandbox and its token Secret (what the reconciler would make), TTL in ms. */
export async function sandbox(
  e: Env,
  ns: string,
  name: string,
  ttlMs = 3_600_000,
  spec: Record<string, unknown> = {},
): Promise<TestSandbox> {
  const obj = await e.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURAL,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'LatticeSandbox',
      metadata: { name },
      spec: { agent: { image: 'agent:test' }, ...spec },
    },
  });
  const uid = (obj as { metadata: { uid: string } }).metadata.uid;
  const issued = await issueToken(e, { namespace: ns, name, uid }, ttlMs);
  return { namespace: ns, name, uid, ...issued };
}

/** Writes (or replaces) the sandbox's token Secret with a fresh token. */
export async function issueToken(
  e: Env,
  s: { namespace: string; name: string; uid: string },
  ttlMs: number,
  now = new Date(),
) {
  const { token, secret } = newTokenSecret(s, ttlMs, now);
  secret.metadata!.ownerReferences = [
    { apiVersion: `${GROUP}/${VERSION}`, kind: 'LatticeSandbox', name: s.name, uid: s.uid, controller: true },
  ];
  await e.core
    .deleteNamespacedSecret({ namespace: s.namespace, name: secret.metadata!.name! })
    .catch(() => {});
  await e.core.createNamespacedSecret({ namespace: s.namespace, body: secret as never });
  return { token, secret };
}

export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
