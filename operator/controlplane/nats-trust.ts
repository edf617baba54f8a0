// The NATS trust chain the control plane manages (NATS "decentralized auth"): an operator key that
// signs account JWTs, a system account (for pushing account updates to the server), and the
// LATTICE account whose key signs one user JWT per sandbox. The nats-server is configured once with
// the operator JWT and the two account JWTs; from then on the control plane issues and revokes
// users without touching the server's config. Pure apart from key generation.
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';
import type { Permission } from './nats-jwt.ts';
import {
  type AccountClaims,
  encodeJwt,
  formatCreds,
  type OperatorClaims,
  type UserClaims,
} from './nats-jwt.ts';

export interface TrustSeeds {
  operator: string;
  systemAccount: string;
  account: string;
}

export interface Trust {
  operator: KeyPair;
  systemAccount: KeyPair;
  account: KeyPair;
}

export function generateTrustSeeds(): TrustSeeds {
  const s = (kp: KeyPair) => new TextDecoder().decode(kp.getSeed());
  return { operator: s(createOperator()), systemAccount: s(createAccount()), account: s(createAccount()) };
}

export function loadTrust(seeds: TrustSeeds): Trust {
  const k = (seed: string) => fromSeed(new TextEncoder().encode(seed));
  return { operator: k(seeds.operator), systemAccount: k(seeds.systemAccount), account: k(seeds.account) };
}

const nowSecs = (now: Date) => Math.floor(now.getTime() / 1000);

const UNLIMITED_ACCOUNT = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};
const JETSTREAM_UNLIMITED = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

export function operatorJwt(t: Trust, now: Date): string {
  return encodeJwt<OperatorClaims>(
    {
      iat: nowSecs(now),
      sub: t.operator.getPublicKey(),
      name: 'lattice',
      nats: { type: 'operator', version: 2, system_account: t.systemAccount.getPublicKey() },
    },
    t.operator,
  );
}

export function systemAccountJwt(t: Trust, now: Date): string {
  return encodeJwt<AccountClaims>(
    {
      iat: nowSecs(now),
      sub: t.systemAccount.getPublicKey(),
      name: 'SYS',
      nats: {
        type: 'account',
        version: 2,
        limits: UNLIMITED_ACCOUNT,
        default_permissions: { pub: {}, sub: {} },
      },
    },
    t.operator,
  );
}

/**
 * The LATTICE account with its revocation list. `revocations` maps a user public key to the unix
 * time before which every JWT for that key is void; the server disconnects such users at once.
 */
export function accountJwt(t: Trust, revocations: Record<string, number>, now: Date): string {
  const nats: AccountClaims = {
    type: 'account',
    version: 2,
    limits: { ...UNLIMITED_ACCOUNT, ...JETSTREAM_UNLIMITED },
    default_permissions: { pub: {}, sub: {} },
  };
  if (Object.keys(revocations).length > 0) nats.revocations = revocations;
  return encodeJwt<AccountClaims>(
    { iat: nowSecs(now), sub: t.account.getPublicKey(), name: 'LATTICE', nats },
    t.operator,
  );
}

export interface UserGrant {
  name: string;
  userPublicKey: string;
  pub: Permission;
  sub: Permission;
  expiresAt?: Date;
}

export function userJwt(signer: KeyPair, g: UserGrant, now: Date): string {
  const claims: Parameters<typeof encodeJwt<UserClaims>>[0] = {
    iat: nowSecs(now),
    sub: g.userPublicKey,
    name: g.name,
    nats: { type: 'user', version: 2, pub: g.pub, sub: g.sub, subs: -1, data: -1, payload: -1 },
  };
  if (g.expiresAt) claims.exp = nowSecs(g.expiresAt);
  return encodeJwt<UserClaims>(claims, signer);
}

/** Full-permission credentials for the control plane itself, in the LATTICE account. */
export function controlPlaneCreds(t: Trust, now: Date): string {
  const user = createUser();
  const jwt = userJwt(
    t.account,
    { name: 'lattice-control-plane', userPublicKey: user.getPublicKey(), pub: {}, sub: {} },
    now,
  );
  return formatCreds(jwt, new TextDecoder().decode(user.getSeed()));
}

/** Credentials in the system account, used only to push account JWT updates. */
export function systemCreds(t: Trust, now: Date): string {
  const user = createUser();
  const jwt = userJwt(
    t.systemAccount,
    { name: 'lattice-system', userPublicKey: user.getPublicKey(), pub: {}, sub: {} },
    now,
  );
  return formatCreds(jwt, new TextDecoder().decode(user.getSeed()));
}

export interface ServerConfigOptions {
  host: string;
  port: number;
  storeDir: string;
  resolverDir: string;
  httpPort?: number;
}

/** nats-server configuration trusting our operator, with JetStream and the full (NATS-based) resolver. */
export function serverConfig(t: Trust, o: ServerConfigOptions, now: Date): string {
  const lines = [
    `host: ${JSON.stringify(o.host)}`,
    `port: ${o.port}`,
    o.httpPort !== undefined ? `http_port: ${o.httpPort}` : '',
    `jetstream: { store_dir: ${JSON.stringify(o.storeDir)} }`,
    `operator: ${JSON.stringify(operatorJwt(t, now))}`,
    `system_account: ${JSON.stringify(t.systemAccount.getPublicKey())}`,
    `resolver: { type: full, dir: ${JSON.stringify(o.resolverDir)}, allow_delete: false, interval: "2m" }`,
    'resolver_preload: {',
    `  ${t.systemAccount.getPublicKey()}: ${JSON.stringify(systemAccountJwt(t, now))}`,
    `  ${t.account.getPublicKey()}: ${JSON.stringify(accountJwt(t, {}, now))}`,
    '}',
  ];
  return `${lines.filter((l) => l !== '').join('\n')}\n`;
}
