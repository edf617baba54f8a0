// NATS decentralized-auth JWTs (v2 claims), encoded and verified here because the project has
// @nats-io/nkeys but no JWT library. Pure apart from hashing. Format: base64url(header) "."
// base64url(claims) "." base64url(ed25519 signature of the first two parts by the issuer's nkey).
import { createHash } from 'node:crypto';
import { fromPublic, type KeyPair } from '@nats-io/nkeys';

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' };

export interface Permission {
  allow?: string[];
  deny?: string[];
}

export interface UserClaims {
  type: 'user';
  version: 2;
  pub: Permission;
  sub: Permission;
  subs: number;
  data: number;
  payload: number;
  issuer_account?: string;
}

export interface AccountClaims {
  type: 'account';
  version: 2;
  limits: Record<string, number | boolean>;
  default_permissions: { pub: Permission; sub: Permission };
  revocations?: Record<string, number>;
}

export interface OperatorClaims {
  type: 'operator';
  version: 2;
  system_account?: string;
}

export type NatsClaims = UserClaims | AccountClaims | OperatorClaims;

export interface Jwt<C extends NatsClaims = NatsClaims> {
  jti?: string;
  iat: number;
  iss: string;
  sub: string;
  name: string;
  exp?: number;
  nats: C;
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

function jti(body: Omit<Jwt, 'jti'>): string {
  // The nats-io/jwt library names a claim set by its SHA-512/256 in unpadded base32; we do the same.
  const digest = createHash('sha512-256').update(JSON.stringify(body)).digest();
  return base32(digest);
}

function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

export function encodeJwt<C extends NatsClaims>(
  claims: Omit<Jwt<C>, 'jti' | 'iss'>,
  signer: KeyPair,
): string {
  const body = { ...claims, iss: signer.getPublicKey() } as Omit<Jwt, 'jti'>;
  const full = { jti: jti(body), ...body };
  const signingInput = `${b64url(JSON.stringify(HEADER))}.${b64url(JSON.stringify(full))}`;
  const sig = signer.sign(new TextEncoder().encode(signingInput));
  return `${signingInput}.${b64url(sig)}`;
}

export class JwtError extends Error {
  override name = 'JwtError';
}

/** Decodes and verifies a JWT's signature against its `iss`; optionally requires a given issuer. */
export function decodeJwt<C extends NatsClaims = NatsClaims>(token: string, expectedIssuer?: string): Jwt<C> {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw new JwtError('not a JWT (want three dot-separated parts)');
  let claims: Jwt<C>;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== HEADER.alg) throw new JwtError(`unsupported JWT algorithm ${String(header.alg)}`);
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch (err) {
    if (err instanceof JwtError) throw err;
    throw new JwtError('JWT header or claims are not valid base64url JSON');
  }
  if (typeof claims?.iss !== 'string' || typeof claims.sub !== 'string')
    throw new JwtError('JWT lacks iss or sub');
  if (expectedIssuer !== undefined && claims.iss !== expectedIssuer)
    throw new JwtError('JWT has an unexpected issuer');
  let ok = false;
  try {
    ok = fromPublic(claims.iss).verify(
      new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
      Buffer.from(parts[2], 'base64url'),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError('JWT signature does not verify');
  return claims;
}

/** The `.creds` file format NATS clients read: the JWT and the seed between fixed markers. */
export function formatCreds(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}
