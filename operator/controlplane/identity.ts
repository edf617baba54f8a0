// Sandbox identities on the bus: issuing a NATS user credential scoped to one sandbox, and revoking
// one at once. Revocations live in Kubernetes (one ConfigMap, conditional writes) so every replica
// pushes the same list; the list is pushed to nats-server as a new account JWT through the system
// account, and the server disconnects revoked users immediately.

import type { NatsConnection } from '@nats-io/nats-core';
import { createUser } from '@nats-io/nkeys';
import { type KubeStore, StoreConflict } from './kube-store.ts';
import { accountJwt, type Trust, userJwt } from './nats-trust.ts';
import { type SandboxIdentity, sandboxPermissions } from './subjects.ts';

export const DEFAULT_CREDENTIAL_LIFETIME_MS = 30 * 86_400_000;

export interface IssuedCredential {
  type: 'nats-user-jwt';
  jwt: string;
  /** Only when the datapath sent no busPublicKey and the control plane made the key pair. */
  seed?: string;
  publicKey: string;
  expiresAt: string;
}

export function newBusKeyPair(): { publicKey: string; seed: string } {
  const u = createUser();
  return { publicKey: u.getPublicKey(), seed: new TextDecoder().decode(u.getSeed()) };
}

export function issueCredential(
  trust: Trust,
  s: SandboxIdentity,
  busPublicKey: string,
  now: Date,
  lifetimeMs = DEFAULT_CREDENTIAL_LIFETIME_MS,
): IssuedCredential {
  const expiresAt = new Date(now.getTime() + lifetimeMs);
  const jwt = userJwt(
    trust.account,
    { name: `${s.namespace}/${s.name}`, userPublicKey: busPublicKey, ...sandboxPermissions(s), expiresAt },
    now,
  );
  return { type: 'nats-user-jwt', jwt, publicKey: busPublicKey, expiresAt: expiresAt.toISOString() };
}

export class Revocations {
  readonly store: KubeStore;
  readonly lifetimeMs: number;
  /** set before the first push (the trust may be loaded from Kubernetes at start) */
  trust!: Trust;
  sys: NatsConnection | undefined;

  constructor(store: KubeStore, lifetimeMs = DEFAULT_CREDENTIAL_LIFETIME_MS) {
    this.store = store;
    this.lifetimeMs = lifetimeMs;
  }

  /** Adds `busPublicKeys` to the list (retrying on concurrent writers), then pushes it. */
  async revoke(busPublicKeys: string[], now: Date): Promise<void> {
    if (busPublicKeys.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      const { entries, resourceVersion } = await this.store.getRevocations();
      // A JWT issued at or before this second is void. Entries older than the longest credential
      // lifetime can go: every JWT they could void has expired anyway, so the list stays bounded.
      const at = Math.floor(now.getTime() / 1000);
      const horizon = at - Math.ceil(this.lifetimeMs / 1000) - 86_400;
      const next: Record<string, number> = {};
      for (const [k, v] of Object.entries(entries)) if (v >= horizon) next[k] = v;
      for (const k of busPublicKeys) next[k] = at;
      try {
        await this.store.putRevocations(next, resourceVersion);
        break;
      } catch (err) {
        if (!(err instanceof StoreConflict) || attempt >= 20) throw err;
      }
    }
    await this.push(now);
  }

  async isRevoked(busPublicKey: string, issuedAt: number): Promise<boolean> {
    const { entries } = await this.store.getRevocations();
    const at = entries[busPublicKey];
    return at !== undefined && issuedAt <= at;
  }

  /** Sends the current account JWT (with revocations) to the server. Needs the system connection. */
  async push(now: Date): Promise<void> {
    if (!this.sys || this.sys.isClosed()) throw new Error('no system-account connection to NATS');
    const { entries } = await this.store.getRevocations();
    // The resolver keeps the newest JWT by issue time; revocations at second T need iat > T to be
    // accepted over a JWT issued in the same second, hence the +1.
    const jwt = accountJwt(this.trust, entries, new Date(now.getTime() + 1000));
    const reply = await this.sys.request('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), {
      timeout: 5000,
    });
    const body = JSON.parse(reply.string()) as {
      data?: { code?: number; message?: string };
      error?: { description?: string };
    };
    if (body.error || body.data?.code !== 200) {
      throw new Error(
        `nats-server refused the account update: ${body.error?.description ?? body.data?.message ?? reply.string()}`,
      );
    }
  }
}
