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

/**
 * Decides whether `token` may enroll `sandbox` given its token Secret. Throws the ApiError that
 * says why not; the order of checks never reveals more than needed (binding and hash before state).
 */
export function checkToken(
  secret: SecretLike | undefined,
  sandbox: SandboxRef,
  token: string,
  now: Date,
): void {
  const a = secret?.metadata?.annotations;
  if (!secret || !a?.[ANNOTATION.tokenHash]) {
    throw notFound(
      'no_token_issued',
      `no enrollment token has been issued for ${sandbox.namespace}/${sandbox.name}`,
    );
  }
  if (a[ANNOTATION.sandboxUID] !== sandbox.uid || !tokenMatches(token, a[ANNOTATION.tokenHash])) {
    throw unauthorized(
      'invalid_token',
      `the token is not valid for sandbox ${sandbox.namespace}/${sandbox.name}`,
    );
  }
  if (a[ANNOTATION.consumedAt]) {
    throw conflict('token_used', `the token was already used at ${a[ANNOTATION.consumedAt]}`);
  }
  const expires = Date.parse(a[ANNOTATION.expiresAt] ?? '');
  if (!Number.isFinite(expires) || expires <= now.getTime()) {
    throw gone('token_expired', `the token expired at ${a[ANNOTATION.expiresAt] ?? '(no expiry recorded)'}`);
  }
}

/** The Secret after consumption: token removed, consumedAt and the bound IP recorded. */
export function consumedSecret(secret: SecretLike, overlayIP: string, now: Date): SecretLike {
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
        [ANNOTATION.consumedAt]: now.toISOString(),
        [ANNOTATION.overlayIP]: overlayIP,
      },
    },
  };
}
