// POST /api/v1/enroll, the use case: check the token against its Secret, claim an overlay address,
// consume the token with a conditional write (the only step two racing requests cannot both pass),
// bind the claim to the new keys, revoke whatever identity the sandbox had before, and return the
// credential. Failures before the consumption leave the token usable; a claim created by a request
// that then loses the race is deleted again.

import type { EnrollRequest } from './enroll-request.ts';
import { conflict, notFound } from './errors.ts';
import { type IssuedCredential, issueCredential, newBusKeyPair, type Revocations } from './identity.ts';
import type { IpAllocator } from './ip-allocator.ts';
import { type Claim, type KubeStore, StoreConflict } from './kube-store.ts';
import type { Logger } from './log.ts';
import type { Trust } from './nats-trust.ts';
import { AUDIT_STREAM, auditSubject, heartbeatSubject, inboxPrefix, netmapSubject } from './subjects.ts';
import { DEFAULT_TOKEN_TTL_MS, parseDuration } from './token.ts';
import { checkToken, consumedSecret, tokenSecretName } from './token-secret.ts';

export interface EnrollResponse {
  sandbox: { namespace: string; name: string; uid: string; agentName: string };
  overlayIP: string;
  networkCIDR: string;
  credential: IssuedCredential;
  bus: {
    url: string;
    inboxPrefix: string;
    subjects: { netmap: string; audit: string; heartbeat: string };
    auditStream: string;
  };
  enrolledAt: string;
}

export interface EnrollmentDeps {
  store: KubeStore;
  allocator: IpAllocator;
  revocations: Revocations;
  trust: Trust;
  busURL: string;
  credentialLifetimeMs: number;
  log: Logger;
  /** Called after a successful enrollment so netmaps of the namespace go out now. */
  onEnrolled: (namespace: string) => void;
}

export const DEFAULT_WG_PORT = 51820;

export async function enroll(d: EnrollmentDeps, req: EnrollRequest, now: Date): Promise<EnrollResponse> {
  // The datapath knows itself by its agent name (`--name`), which defaults to the sandbox name.
  const sandbox = await d.store.findSandbox(req.namespace, req.name);
  if (!sandbox) throw notFound('sandbox_not_found', `sandbox ${req.namespace}/${req.name} does not exist`);
  if (sandbox.deleting)
    throw conflict('sandbox_deleting', `sandbox ${req.namespace}/${req.name} is being deleted`);
  const ref = { namespace: sandbox.namespace, name: sandbox.name, uid: sandbox.uid };
  const secret = await d.store.getSecret(sandbox.namespace, tokenSecretName(sandbox.name));
  const ttlMs = parseDuration(sandbox.tokenTTL) ?? DEFAULT_TOKEN_TTL_MS;
  checkToken(secret, ref, req.token, now, ttlMs);

  const generated = req.busPublicKey ? undefined : newBusKeyPair();
  const busPublicKey = req.busPublicKey ?? generated!.publicKey;
  const wgPort = req.wgPort ?? DEFAULT_WG_PORT;
  const { claim, created } = await d.allocator.claimFor(
    { ...ref, agentName: sandbox.agentName, publicKey: req.publicKey, busPublicKey, wgPort },
    now,
  );

  try {
    await d.store.replaceSecretIfUnchanged(consumedSecret(secret!, claim.ip, now, ttlMs));
  } catch (err) {
    if (created) await d.store.deleteClaim(claim.ip, claim.resourceVersion).catch(() => {});
    if (!(err instanceof StoreConflict)) throw err;
    // Someone else wrote the Secret first: tell the loser why (normally "already used").
    checkToken(
      await d.store.getSecret(req.namespace, tokenSecretName(sandbox.name)),
      ref,
      req.token,
      now,
      ttlMs,
    );
    throw conflict('token_race', 'the token Secret changed during enrollment; retry with the current token');
  }

  // The token is ours. Bind the claim to the new keys; a concurrent GC or a stale read can make the
  // write conflict, so re-read and retry a few times.
  const previous = await bindClaim(d.store, claim, { publicKey: req.publicKey, busPublicKey, wgPort }, now);
  const revoke = new Set(previous.filter((k) => k && k !== busPublicKey));
  if (revoke.size > 0) {
    await d.revocations.revoke([...revoke], now).catch((err) =>
      d.log('error', 'revoking the previous bus identity failed', {
        namespace: ref.namespace,
        name: ref.name,
        error: String(err),
      }),
    );
  }
  await d.store
    .patchSandboxStatus(ref.namespace, ref.name, {
      overlayIP: claim.ip,
      publicKey: req.publicKey,
      enrollment: { consumedAt: now.toISOString(), enrolledAt: now.toISOString() },
    })
    .catch((err) =>
      d.log('warn', 'writing enrollment status failed', {
        namespace: ref.namespace,
        name: ref.name,
        error: String(err),
      }),
    );

  const identity = { namespace: ref.namespace, name: ref.name, agentName: sandbox.agentName };
  const credential = issueCredential(d.trust, identity, busPublicKey, now, d.credentialLifetimeMs);
  if (generated) credential.seed = generated.seed;
  d.onEnrolled(ref.namespace);
  d.log('info', 'sandbox enrolled', {
    namespace: ref.namespace,
    name: ref.name,
    overlayIP: claim.ip,
    reenrolled: previous.length > 0,
  });
  return {
    sandbox: { ...ref, agentName: sandbox.agentName },
    overlayIP: claim.ip,
    networkCIDR: d.allocator.pool.cidr,
    credential,
    bus: {
      url: d.busURL,
      inboxPrefix: inboxPrefix(identity),
      subjects: {
        netmap: netmapSubject(identity),
        audit: auditSubject(identity),
        heartbeat: heartbeatSubject(identity),
      },
      auditStream: AUDIT_STREAM,
    },
    enrolledAt: now.toISOString(),
  };
}

/**
 * Marks `claim` bound to the new keys and deletes other claims of the same sandbox (left by
 * interrupted attempts). Returns the bus keys the sandbox had before, to be revoked.
 */
async function bindClaim(
  store: KubeStore,
  claim: Claim,
  keys: { publicKey: string; busPublicKey: string; wgPort: number },
  now: Date,
): Promise<string[]> {
  let current = claim;
  for (let attempt = 0; ; attempt++) {
    try {
      await store.updateClaim({ ...current, ...keys, state: 'bound', boundAt: now.toISOString() });
      break;
    } catch (err) {
      if (!(err instanceof StoreConflict) || attempt >= 10) throw err;
      const fresh = (await store.listClaims(claim.uid)).find((c) => c.ip === claim.ip);
      if (!fresh) throw err;
      current = fresh;
    }
  }
  const others = (await store.listClaims(claim.uid)).filter((c) => c.ip !== claim.ip);
  for (const o of others) await store.deleteClaim(o.ip, o.resourceVersion).catch(() => {});
  return [
    ...(current.state === 'bound' ? [current.busPublicKey] : []),
    ...others.filter((o) => o.state === 'bound').map((o) => o.busPublicKey),
  ];
}
