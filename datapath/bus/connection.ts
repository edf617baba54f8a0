// The datapath's NATS connection, made from its stored credential: reconnects forever, uses its own
// inbox prefix (the only reply subjects its credential may subscribe to), and reports its state.
import { credsAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { formatCreds } from '../../operator/controlplane/nats-jwt.ts';
import type { SandboxCredentials } from '../enroll/credentials.ts';

export type BusState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface BusConnection {
  readonly nc: NatsConnection | null;
  readonly state: BusState;
  readonly lastError: string | null;
  /** called on every (re)connect */
  onConnect(fn: () => void): void;
  /** use a renewed credential from now on (reconnects with it) */
  renew(jwt: string): Promise<void>;
  close(): Promise<void>;
}

export function openBus(
  c: SandboxCredentials,
  log: { info(m: string, f?: object): void; warn(m: string, f?: object): void },
): BusConnection {
  let nc: NatsConnection | null = null;
  let state: BusState = 'connecting';
  let lastError: string | null = null;
  let closed = false;
  const listeners: (() => void)[] = [];
  // Read at every (re)connect, so a renewed JWT is used from the next connection on.
  let creds = new TextEncoder().encode(formatCreds(c.bus.jwt, c.bus.seed));
  const fire = () => {
    for (const l of listeners) {
      try {
        l();
      } catch {
        // a listener's failure is its own
      }
    }
  };
  (async () => {
    // The first connect is retried here (nats.js gives up on a first failure); after it, nats.js
    // reconnects by itself for as long as the process lives.
    for (let attempt = 0; !closed; attempt++) {
      try {
        nc = await connect({
          servers: c.bus.url,
          name: `lattice-datapath ${c.namespace}/${c.sandbox}`,
          inboxPrefix: c.bus.inboxPrefix,
          authenticator: credsAuthenticator(() => creds),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1000,
          pingInterval: 5000,
          maxPingOut: 2,
        });
        break;
      } catch (e) {
        lastError = (e as Error).message;
        if (attempt === 0 || attempt % 10 === 0)
          log.warn('bus not reachable; retrying', { url: c.bus.url, error: lastError });
        await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5000)));
      }
    }
    if (closed || nc === null) {
      await nc?.close();
      return;
    }
    state = 'connected';
    log.info('bus connected', { url: c.bus.url });
    fire();
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        state = 'disconnected';
        log.warn('bus disconnected');
      } else if (s.type === 'reconnect') {
        state = 'connected';
        log.info('bus reconnected');
        fire();
      } else if (s.type === 'error') {
        lastError = String((s as { error?: Error }).error?.message ?? 'error');
      }
    }
  })().catch((e) => {
    lastError = (e as Error).message;
  });
  return {
    get nc() {
      return nc && !nc.isClosed() ? nc : null;
    },
    get state() {
      return nc?.isClosed() && !closed ? 'disconnected' : state;
    },
    get lastError() {
      return lastError;
    },
    onConnect(fn) {
      listeners.push(fn);
      if (state === 'connected') fn();
    },
    async renew(jwt: string) {
      creds = new TextEncoder().encode(formatCreds(jwt, c.bus.seed));
      if (nc && !nc.isClosed()) await nc.reconnect().catch(() => {});
    },
    async close() {
      closed = true;
      state = 'closed';
      await nc?.drain().catch(() => {});
      await nc?.close().catch(() => {});
    },
  };
}
