// What the finalizer calls to take a sandbox off the overlay: the control plane revokes its
// credential (peers drop it) and releases its overlay IP. The control plane
// (operator/controlplane/) provides the real implementation; the reconciler only knows this.
export type SandboxIdentity = { namespace: string; name: string; uid: string; agentName: string };

export interface IdentityRevoker {
  /** Idempotent: revoking an unknown or already revoked identity succeeds. */
  revoke(sandbox: SandboxIdentity): Promise<void>;
}

/** In-process implementation: records revocations (tests, and running without a control plane). */
export class InMemoryIdentityRevoker implements IdentityRevoker {
  readonly revoked: SandboxIdentity[] = [];
  readonly #known = new Set<string>();

  async revoke(sandbox: SandboxIdentity): Promise<void> {
    this.revoked.push(sandbox);
    this.#known.add(sandbox.uid);
  }

  isRevoked(uid: string): boolean {
    return this.#known.has(uid);
  }

  /** How many times revoke was called for this uid (the finalizer must call it once). */
  calls(uid: string): number {
    return this.revoked.filter((r) => r.uid === uid).length;
  }
}
