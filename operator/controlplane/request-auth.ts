// Authentication of datapath requests after enrollment (netmap polling, credential renewal): the
// datapath presents its NATS user JWT and signs "<METHOD> <path>\n<date>" with the matching nkey
// seed. Proof of possession, no shared secret, nothing replayable beyond the clock window. Pure
// apart from signature verification.
import { fromPublic, type KeyPair } from '@nats-io/nkeys';
import { unauthorized } from './errors.ts';
import { decodeJwt, type UserClaims } from './nats-jwt.ts';

export const CLOCK_SKEW_MS = 5 * 60_000;
export const AUTH_SCHEME = 'Lattice-NKey';

export interface SignedHeaders {
  authorization: string;
  'x-lattice-date': string;
  'x-lattice-signature': string;
}

const signingInput = (method: string, path: string, date: string) =>
  new TextEncoder().encode(`${method.toUpperCase()} ${path}\n${date}`);

export function signRequest(
  jwt: string,
  seed: KeyPair,
  method: string,
  path: string,
  now: Date,
): SignedHeaders {
  const date = now.toISOString();
  return {
    authorization: `${AUTH_SCHEME} ${jwt}`,
    'x-lattice-date': date,
    'x-lattice-signature': Buffer.from(seed.sign(signingInput(method, path, date))).toString('base64url'),
  };
}

export interface Caller {
  namespace: string;
  name: string;
  busPublicKey: string;
  issuedAt: number;
  expiresAt?: number;
}

/** Verifies the headers of a signed request; throws 401 with the reason. */
export function verifyRequest(
  headers: Record<string, string | string[] | undefined>,
  method: string,
  path: string,
  accountPublicKey: string,
  now: Date,
): Caller {
  const auth = headers.authorization;
  const date = headers['x-lattice-date'];
  const sig = headers['x-lattice-signature'];
  if (typeof auth !== 'string' || !auth.startsWith(`${AUTH_SCHEME} `)) {
    throw unauthorized(
      'missing_credential',
      `send "Authorization: ${AUTH_SCHEME} <credential JWT>" with a signature`,
    );
  }
  if (typeof date !== 'string' || typeof sig !== 'string')
    throw unauthorized('missing_signature', 'X-Lattice-Date and X-Lattice-Signature are required');
  const t = Date.parse(date);
  if (!Number.isFinite(t) || Math.abs(t - now.getTime()) > CLOCK_SKEW_MS)
    throw unauthorized('stale_signature', 'X-Lattice-Date is not within 5 minutes of the server clock');
  let claims: ReturnType<typeof decodeJwt<UserClaims>>;
  try {
    claims = decodeJwt<UserClaims>(auth.slice(AUTH_SCHEME.length + 1), accountPublicKey);
  } catch {
    throw unauthorized('invalid_credential', 'the credential was not issued by this control plane');
  }
  if (claims.nats?.type !== 'user')
    throw unauthorized('invalid_credential', 'the credential is not a user credential');
  if (claims.exp !== undefined && claims.exp * 1000 <= now.getTime())
    throw unauthorized('credential_expired', 'the credential has expired; enroll again');
  let ok = false;
  try {
    ok = fromPublic(claims.sub).verify(signingInput(method, path, date), Buffer.from(sig, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw unauthorized('bad_signature', 'the request signature does not match the credential');
  const [namespace, name] = String(claims.name).split('/');
  if (!namespace || !name) throw unauthorized('invalid_credential', 'the credential names no sandbox');
  return { namespace, name, busPublicKey: claims.sub, issuedAt: claims.iat, expiresAt: claims.exp };
}
