// The control plane's state in Kubernetes, behind one small adapter:
//   - sandboxes (read; status merge-patched with the enrollment result),
//   - the token Secret `<sandbox>-enrollment` (read; consumed with a resourceVersion precondition),
//   - overlay IP claims: one ConfigMap per address in the control-plane namespace, named from the
//     address, so `create` is the atomic claim (409 AlreadyExists = taken by someone else),
//   - the NATS revocation list: one ConfigMap, updated with a resourceVersion precondition,
//   - pods of sandboxes (read) for netmap endpoints.
// Every write that races is conditional; callers get StoreConflict and decide.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { claimName, ipFromClaimName } from './ip-pool.ts';
import type { SecretLike } from './token-secret.ts';

export const GROUP = 'lattice.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'latticesandboxes';
const CLAIM_LABEL = 'lattice.io/ip-claim';
const UID_LABEL = 'lattice.io/sandbox-uid';
export const REVOCATIONS_NAME = 'lattice-nats-revocations';

export class StoreConflict extends Error {
  override name = 'StoreConflict';
}

export interface SandboxInfo {
  namespace: string;
  name: string;
  uid: string;
  agentName: string;
  tokenTTL?: string;
  deleting: boolean;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

export type ClaimState = 'pending' | 'bound';

/** The sandbox identity an address claim records (what enrollment asks the allocator for). */
export interface ClaimRequest {
  namespace: string;
  name: string;
  uid: string;
  agentName: string;
  publicKey: string;
  busPublicKey: string;
  wgPort: number;
}

export interface Claim extends ClaimRequest {
  ip: string;
  state: ClaimState;
  createdAt: string;
  boundAt?: string;
  resourceVersion?: string;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}
function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

function toClaim(cm: V1ConfigMap): Claim | undefined {
  const ip = ipFromClaimName(cm.metadata?.name ?? '');
  const d = cm.data ?? {};
  if (!ip || !d.uid) return undefined;
  return {
    ip,
    namespace: d.namespace ?? '',
    name: d.name ?? '',
    uid: d.uid,
    agentName: d.agentName ?? d.name ?? '',
    publicKey: d.publicKey ?? '',
    busPublicKey: d.busPublicKey ?? '',
    wgPort: Number(d.wgPort ?? 51820),
    state: d.state === 'bound' ? 'bound' : 'pending',
    createdAt: d.createdAt ?? '',
    boundAt: d.boundAt,
    resourceVersion: cm.metadata?.resourceVersion,
  };
}

function fromClaim(c: Claim, namespace: string): V1ConfigMap {
  const data: Record<string, string> = {
    namespace: c.namespace,
    name: c.name,
    uid: c.uid,
    agentName: c.agentName,
    publicKey: c.publicKey,
    busPublicKey: c.busPublicKey,
    wgPort: String(c.wgPort),
    state: c.state,
    createdAt: c.createdAt,
  };
  if (c.boundAt) data.boundAt = c.boundAt;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: claimName(c.ip),
      namespace,
      labels: {
        [CLAIM_LABEL]: 'true',
        [UID_LABEL]: c.uid,
        'app.kubernetes.io/managed-by': 'lattice-control-plane',
      },
      resourceVersion: c.resourceVersion,
    },
    data,
  };
}

export class KubeStore {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly namespace: string;

  constructor(kc: KubeConfig, controlPlaneNamespace: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.namespace = controlPlaneNamespace;
  }

  async getSandbox(namespace: string, name: string): Promise<SandboxInfo | undefined> {
    try {
      const o = await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
      });
      return toSandbox(o);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The sandbox named `name`, or else the one in `namespace` whose agent name is `name`. */
  async findSandbox(namespace: string, name: string): Promise<SandboxInfo | undefined> {
    const direct = await this.getSandbox(namespace, name);
    if (direct) return direct;
    const list = await this.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
    });
    const matches = ((list as { items?: unknown[] }).items ?? [])
      .map(toSandbox)
      .filter((s) => s.agentName === name);
    return matches.length === 1 ? matches[0] : undefined;
  }

  async listSandboxes(): Promise<SandboxInfo[]> {
    const list = await this.custom.listClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
    });
    return ((list as { items?: unknown[] }).items ?? []).map(toSandbox);
  }

  async patchSandboxStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { status },
        fieldManager: 'lattice-control-plane',
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async getSecret(namespace: string, name: string): Promise<SecretLike | undefined> {
    try {
      return (await this.core.readNamespacedSecret({ namespace, name })) as SecretLike;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Replaces the Secret only if it still has the resourceVersion it was read with. */
  async replaceSecretIfUnchanged(secret: SecretLike): Promise<void> {
    const { name, namespace, resourceVersion } = secret.metadata ?? {};
    if (!name || !namespace || !resourceVersion)
      throw new Error('replaceSecretIfUnchanged needs name, namespace and resourceVersion');
    try {
      await this.core.replaceNamespacedSecret({ name, namespace, body: secret as never });
    } catch (err) {
      if (isConflict(err)) throw new StoreConflict(`secret ${namespace}/${name} changed since it was read`);
      throw err;
    }
  }

  async listClaims(uid?: string): Promise<Claim[]> {
    const labelSelector = uid ? `${CLAIM_LABEL}=true,${UID_LABEL}=${uid}` : `${CLAIM_LABEL}=true`;
    const list = await this.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector });
    return list.items.map(toClaim).filter((c): c is Claim => c !== undefined);
  }

  /** Creates the claim of `c.ip`. False when the address is already claimed (by anyone). */
  async createClaim(c: Claim): Promise<boolean> {
    try {
      const cm = await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: fromClaim({ ...c, resourceVersion: undefined }, this.namespace),
      });
      c.resourceVersion = cm.metadata?.resourceVersion;
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  async updateClaim(c: Claim): Promise<void> {
    try {
      const cm = await this.core.replaceNamespacedConfigMap({
        name: claimName(c.ip),
        namespace: this.namespace,
        body: fromClaim(c, this.namespace),
      });
      c.resourceVersion = cm.metadata?.resourceVersion;
    } catch (err) {
      if (isConflict(err)) throw new StoreConflict(`claim of ${c.ip} changed since it was read`);
      throw err;
    }
  }

  /** Deletes the claim; with a resourceVersion only if unchanged. Missing claims are fine. */
  async deleteClaim(ip: string, resourceVersion?: string): Promise<void> {
    try {
      await this.core.deleteNamespacedConfigMap({
        name: claimName(ip),
        namespace: this.namespace,
        body: resourceVersion ? { preconditions: { resourceVersion } } : undefined,
      });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new StoreConflict(`claim of ${ip} changed since it was read`);
      throw err;
    }
  }

  /** Pod IPs of sandbox Pods, keyed `namespace/sandbox`. */
  async sandboxPodIPs(): Promise<Map<string, string>> {
    const pods = await this.core.listPodForAllNamespaces({ labelSelector: 'lattice.io/sandbox' });
    const out = new Map<string, string>();
    for (const p of pods.items) {
      const sb = p.metadata?.labels?.['lattice.io/sandbox'];
      if (sb && p.status?.podIP && !p.metadata?.deletionTimestamp)
        out.set(`${p.metadata?.namespace}/${sb}`, p.status.podIP);
    }
    return out;
  }

  async getRevocations(): Promise<{ entries: Record<string, number>; resourceVersion?: string }> {
    try {
      const cm = await this.core.readNamespacedConfigMap({
        name: REVOCATIONS_NAME,
        namespace: this.namespace,
      });
      const entries: Record<string, number> = {};
      for (const [k, v] of Object.entries(cm.data ?? {}))
        if (Number.isFinite(Number(v))) entries[k] = Number(v);
      return { entries, resourceVersion: cm.metadata?.resourceVersion };
    } catch (err) {
      if (isNotFound(err)) return { entries: {} };
      throw err;
    }
  }

  /** Writes the revocation list; conditional on resourceVersion (create when there was none). */
  async putRevocations(entries: Record<string, number>, resourceVersion?: string): Promise<void> {
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: REVOCATIONS_NAME, namespace: this.namespace, resourceVersion },
      data: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, String(v)])),
    };
    try {
      if (resourceVersion)
        await this.core.replaceNamespacedConfigMap({
          name: REVOCATIONS_NAME,
          namespace: this.namespace,
          body,
        });
      else await this.core.createNamespacedConfigMap({ namespace: this.namespace, body });
    } catch (err) {
      if (isConflict(err)) throw new StoreConflict('revocation list changed since it was read');
      throw err;
    }
  }
}

function toSandbox(o: unknown): SandboxInfo {
  const obj = o as {
    metadata?: Record<string, unknown>;
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
  };
  const md = obj.metadata ?? {};
  const spec = obj.spec ?? {};
  const name = String(md.name ?? '');
  return {
    namespace: String(md.namespace ?? ''),
    name,
    uid: String(md.uid ?? ''),
    agentName: typeof spec.agentName === 'string' && spec.agentName ? spec.agentName : name,
    tokenTTL: (spec.enrollment as { tokenTTL?: string } | undefined)?.tokenTTL,
    deleting: md.deletionTimestamp !== undefined && md.deletionTimestamp !== null,
    spec,
    status: obj.status ?? {},
  };
}
