// The contract of the enrollment-token Secret `<sandbox>-enrollment` (created by the sandbox
// reconciler, consumed by the control plane). Pure: builds and reads plain objects.
//
//   data.token                         the token itself, for the Pod's env; removed once consumed
//   annotations lattice.io/token-hash  sha256:<hex> of the token — the only form the control plane checks
//   annotations lattice.io/sandbox-uid the sandbox UID the token is bound to
//   annotations lattice.io/issued-at, lattice.io/expires-at   RFC 3339
//   annotations lattice.io/consumed-at set by the control plane in the same conditional write that
//                                      removes data.token (resourceVersion precondition)
//   annotations lattice.io/overlay-ip  the overlay IP bound by that enrollment
import { conflict, gone, notFound, unauthorized } from './errors.ts';
import { generateToken, hashToken, tokenMatches } from './token.ts';

export const ANNOTATION = {
  tokenHash: 'lattice.io/token-hash',
  sandboxUID: 'lattice.io/sandbox-uid',
  issuedAt: 'lattice.io/issued-at',
  expiresAt: 'lattice.io/expires-at',
  consumedAt: 'lattice.io/consumed-at',
  overlayIP: 'lattice.io/overlay-ip',
} as const;

export function tokenSecretName(sandboxName: string): string {
  return `${sandboxName}-enrollment`;
}

export interface SecretLike {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
}

export interface SandboxRef {
  name: string;
  namespace: string;
  uid: string;
}

/**
 * A fresh token and the Secret that carries it. The reconciler applies the Secret (adding its owner
 * reference); the returned token is never logged.
 */
export function newTokenSecret(
  sandbox: SandboxRef,
  ttlMs: number,
  now: Date,
): { token: string; secret: SecretLike } {
  const token = generateToken();
  const secret: SecretLike = {
    metadata: {
      name: tokenSecretName(sandbox.name),
      namespace: sandbox.namespace,
      labels: { 'lattice.io/sandbox': sandbox.name, 'lattice.io/enrollment-token': 'true' },
      annotations: {
        [ANNOTATION.tokenHash]: hashToken(token),
        [ANNOTATION.sandboxUID]: sandbox.uid,
        [ANNOTATION.issuedAt]: now.toISOString(),
        [ANNOTATION.expiresAt]: new Date(now.getTime() + ttlMs).toISOString(),
      },
    },
    type: 'Opaque',
    data: { token: Buffer.from(token, 'utf8').toString('base64') },
  };
  return { token, secret };
}

/** What the control plane needs to know about an issued token, however the Secret was written. */
export interface TokenState {
  hash?: string;
  boundUID?: string;
  expiresAt?: string;
  consumedAt?: string;
}

/**
 * Reads the token state. The annotations written by newTokenSecret are preferred; a Secret that has
 * only `data.token` (and an owner reference to the sandbox) is understood too: its hash is computed
 * on read, the owner's UID is the binding, and it expires `ttlMs` after its creation.
 */
export function tokenState(secret: SecretLike, ttlMs: number): TokenState {
  const a = secret.metadata?.annotations ?? {};
  const md = secret.metadata as (SecretLike['metadata'] & { creationTimestamp?: string | Date }) | undefined;
  const owner = (md?.ownerReferences as { kind?: string; uid?: string }[] | undefined)?.find(
    (o) => o.kind === 'LatticeSandbox',
  );
  const raw = secret.data?.token ? Buffer.from(secret.data.token, 'base64').toString('utf8') : undefined;
  const created = md?.creationTimestamp ? new Date(md.creationTimestamp).getTime() : Number.NaN;
  return {
    hash: a[ANNOTATION.tokenHash] ?? (raw ? hashToken(raw) : undefined),
    boundUID: a[ANNOTATION.sandboxUID] ?? owner?.uid,
    expiresAt:
      a[ANNOTATION.expiresAt] ??
      (Number.isFinite(created) ? new Date(created + ttlMs).toISOString() : undefined),
    consumedAt: a[ANNOTATION.consumedAt],
  };
}

/**
 * Decides whether `token` may enroll `sandbox` given its token Secret. Throws the ApiError that
 * says why not; binding and hash are checked before state, so a wrong token learns nothing else.
 */
export function checkToken(
  secret: SecretLike | undefined,
  sandbox: SandboxRef,
  token: string,
  now: Date,
  ttlMs: number,
): void {
  const st = secret ? tokenState(secret, ttlMs) : undefined;
  if (!st || (!st.hash && !st.consumedAt)) {
    throw notFound(
      'no_token_issued',
      `no enrollment token has been issued for ${sandbox.namespace}/${sandbox.name}`,
    );
  }
  if (st.consumedAt && !st.hash)
    throw conflict('token_used', `the token was already used at ${st.consumedAt}`);
  if (st.boundUID !== sandbox.uid || !st.hash || !tokenMatches(token, st.hash)) {
    throw unauthorized(
      'invalid_token',
      `the token is not valid for sandbox ${sandbox.namespace}/${sandbox.name}`,
    );
  }
  if (st.consumedAt) throw conflict('token_used', `the token was already used at ${st.consumedAt}`);
  const expires = Date.parse(st.expiresAt ?? '');
  if (!Number.isFinite(expires) || expires <= now.getTime()) {
    throw gone('token_expired', `the token expired at ${st.expiresAt ?? '(no expiry recorded)'}`);
  }
}

/** The Secret after consumption: token removed, consumedAt and the bound IP recorded. */
export function consumedSecret(secret: SecretLike, overlayIP: string, now: Date, ttlMs: number): SecretLike {
  const st = tokenState(secret, ttlMs);
  const data = { ...(secret.data ?? {}) };
  delete data.token;
  return {
    ...secret,
    data,
    stringData: undefined,
    metadata: {
      ...secret.metadata,
      annotations: {
        ...(secret.metadata?.annotations ?? {}),
        // The hash stays (so a reused token is told "already used", not "invalid"); the token goes.
        ...(st.hash ? { [ANNOTATION.tokenHash]: st.hash } : {}),
        ...(st.boundUID ? { [ANNOTATION.sandboxUID]: st.boundUID } : {}),
        [ANNOTATION.consumedAt]: now.toISOString(),
        [ANNOTATION.overlayIP]: overlayIP,
      },
    },
  };
}
