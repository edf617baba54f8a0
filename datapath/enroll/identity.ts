// Getting an identity: resume from stored credentials (no token needed, none consumed), or enroll
// with the one-time token and store the result. States: resumed | enrolled; errors say which of
// "no token", "token refused", "control plane unreachable", "credentials unusable" happened.
import { createUser } from '@nats-io/nkeys';
import { genkey, pubkey } from '../wireguard/keys.ts';
import { ControlPlaneError, postEnroll } from './client.ts';
import { readCredentials, type SandboxCredentials, writeCredentials } from './credentials.ts';

export class EnrollmentError extends Error {
  override name = 'EnrollmentError';
}

export interface IdentityOptions {
  serverUrl: string;
  name: string;
  namespace: string;
  token: string | null;
  credentialsPath: string;
  wgPort?: number;
  log: {
    info(msg: string, f?: Record<string, unknown>): void;
    warn(msg: string, f?: Record<string, unknown>): void;
  };
  /** retry budget for an unreachable control plane (default 120 s) */
  retryForMs?: number;
}

export interface Identity {
  credentials: SandboxCredentials;
  how: 'resumed' | 'enrolled';
}

/** The namespace this Pod runs in: LATTICE_NAMESPACE or POD_NAMESPACE, else the service-account file. */
export function podNamespace(env: NodeJS.ProcessEnv, readFile: (p: string) => string): string | null {
  const fromEnv = env.LATTICE_NAMESPACE || env.POD_NAMESPACE;
  if (fromEnv) return fromEnv;
  try {
    return readFile('/var/run/secrets/kubernetes.io/serviceaccount/namespace').trim() || null;
  } catch {
    return null;
  }
}

export async function obtainIdentity(o: IdentityOptions): Promise<Identity> {
  const stored = readCredentials(o.credentialsPath);
  if (stored) {
    if (stored.name === o.name && stored.serverUrl === o.serverUrl && stored.namespace === o.namespace) {
      o.log.info('resuming from stored credentials', {
        path: o.credentialsPath,
        overlayIP: stored.overlayIP,
      });
      return { credentials: stored, how: 'resumed' };
    }
    if (!o.token) {
      throw new EnrollmentError(
        `${o.credentialsPath} belongs to ${stored.namespace}/${stored.name} at ${stored.serverUrl}, not ${o.namespace}/${o.name} at ${o.serverUrl}, and no --token was given`,
      );
    }
    o.log.warn('stored credentials are for another sandbox or control plane; enrolling anew', {
      path: o.credentialsPath,
    });
  }
  if (!o.token) {
    throw new EnrollmentError(
      `no credentials in ${o.credentialsPath} and no --token: cannot enroll (the operator issues a token in the <sandbox>-enrollment Secret)`,
    );
  }
  const wgPrivate = genkey();
  const bus = createUser();
  const busSeed = new TextDecoder().decode(bus.getSeed());
  const body = {
    name: o.name,
    namespace: o.namespace,
    token: o.token,
    publicKey: pubkey(wgPrivate),
    busPublicKey: bus.getPublicKey(),
    wgPort: o.wgPort,
  };
  const deadline = Date.now() + (o.retryForMs ?? 120_000);
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await postEnroll(o.serverUrl, body);
      const credentials: SandboxCredentials = {
        v: 1,
        name: o.name,
        namespace: o.namespace,
        sandbox: r.sandbox.name,
        uid: r.sandbox.uid,
        serverUrl: o.serverUrl,
        overlayIP: r.overlayIP,
        networkCIDR: r.networkCIDR,
        wireguard: { privateKey: wgPrivate, publicKey: body.publicKey },
        bus: {
          url: r.bus.url,
          jwt: r.credential.jwt,
          seed: busSeed,
          publicKey: bus.getPublicKey(),
          expiresAt: r.credential.expiresAt,
          inboxPrefix: r.bus.inboxPrefix,
          subjects: r.bus.subjects,
          auditStream: r.bus.auditStream,
        },
        enrolledAt: r.enrolledAt,
      };
      writeCredentials(o.credentialsPath, credentials);
      o.log.info('enrolled', { overlayIP: r.overlayIP, sandbox: `${r.sandbox.namespace}/${r.sandbox.name}` });
      return { credentials, how: 'enrolled' };
    } catch (e) {
      if (e instanceof ControlPlaneError && e.kind === 'rejected') {
        throw new EnrollmentError(`enrollment refused: ${e.message}`);
      }
      if (Date.now() > deadline) throw new EnrollmentError(`enrollment failed: ${(e as Error).message}`);
      const wait = Math.min(500 * 2 ** attempt, 10_000);
      o.log.warn('control plane not reachable; retrying enrollment', {
        inMs: wait,
        error: (e as Error).message,
      });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
