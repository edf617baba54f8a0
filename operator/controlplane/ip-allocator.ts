// Overlay IP allocation over the claim store. Uniqueness comes from Kubernetes: a claim is a
// ConfigMap named after its address, and only one `create` of a name can succeed, whichever replica
// or process issues it. The listing of taken addresses is only a hint to skip known-taken ones.
import { unavailable } from './errors.ts';
import { candidates, type Pool } from './ip-pool.ts';
import type { Claim, ClaimRequest, KubeStore } from './kube-store.ts';

export class IpAllocator {
  readonly pool: Pool;
  readonly store: KubeStore;

  constructor(store: KubeStore, pool: Pool) {
    this.store = store;
    this.pool = pool;
  }

  /**
   * The claim for this sandbox UID: an existing one (a re-enrollment keeps its address; a claim left
   * pending by an interrupted attempt is reused), else a new `pending` claim. `created` says which.
   */
  async claimFor(r: ClaimRequest, now: Date): Promise<{ claim: Claim; created: boolean }> {
    const mine = await this.store.listClaims(r.uid);
    if (mine.length > 0) {
      mine.sort((a, b) =>
        a.state === b.state ? a.createdAt.localeCompare(b.createdAt) : a.state === 'bound' ? -1 : 1,
      );
      return { claim: mine[0], created: false };
    }
    let taken = new Set((await this.store.listClaims()).map((c) => c.ip));
    for (let round = 0; round < 3; round++) {
      let misses = 0;
      for (const ip of candidates(this.pool, r.uid, taken)) {
        const claim: Claim = { ...r, ip, state: 'pending', createdAt: now.toISOString() };
        if (await this.store.createClaim(claim)) return { claim, created: true };
        // Someone else took it between our listing and our create: that is the race the
        // create-or-conflict write exists for. After many misses the hint is stale; list again.
        if (++misses >= 32) break;
      }
      taken = new Set((await this.store.listClaims()).map((c) => c.ip));
    }
    throw unavailable('pool_exhausted', `no free overlay address in ${this.pool.cidr}`);
  }
}
