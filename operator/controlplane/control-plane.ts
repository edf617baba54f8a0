// The control plane as one object the operator starts: HTTP API, enrollment, IP claims, NATS
// identities, netmap publishing, heartbeats, audit query, and the identity revoker the sandbox
// finalizer calls. All state is in Kubernetes and NATS, so every replica serves the API; only
// housekeeping (the periodic GC and full netmap resyncs) asks `isLeader`.
import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import type { IdentityRevoker, SandboxIdentity } from '../sandbox/identity.ts';
import { parseAuditQuery } from './audit-query.ts';
import {
  type BusConnections,
  connectBus,
  ensureAuditStream,
  isBusUnavailable,
  Presence,
  queryAudit,
} from './bus.ts';
import { parseEnrollRequest } from './enroll-request.ts';
import { enroll } from './enrollment.ts';
import { notFound, unauthorized, unavailable } from './errors.ts';
import { RawText, type Route, startHttpServer } from './http-server.ts';
import { DEFAULT_CREDENTIAL_LIFETIME_MS, issueCredential, Revocations } from './identity.ts';
import { IpAllocator } from './ip-allocator.ts';
import { parsePool } from './ip-pool.ts';
import { isNotFound, KubeStore } from './kube-store.ts';
import { jsonLogger, type Logger } from './log.ts';
import { loadTrust, type Trust, type TrustSeeds } from './nats-trust.ts';
import type { StaticPeer } from './netmap.ts';
import { NetmapPublisher } from './netmap-publisher.ts';
import { verifyRequest } from './request-auth.ts';
import { AUDIT_STREAM } from './subjects.ts';
import { ensureTrustSecret } from './trust-store.ts';

export interface ControlPlaneOptions {
  kubeConfig: KubeConfig;
  /** Where claims and the revocation list live (the operator's namespace). */
  namespace?: string;
  host?: string;
  port?: number;
  /** How the control plane reaches NATS. */
  natsURL: string;
  /** The bus address handed to datapaths (default natsURL). */
  busURL?: string;
  /** The NATS trust seeds; without them they are read from (or created in) the Secret lattice-nats. */
  trustSeeds?: TrustSeeds;
  pool?: string;
  staticPeers?: StaticPeer[];
  credentialLifetimeMs?: number;
  isLeader?: () => boolean;
  log?: Logger;
  registry?: Registry;
  netmapIntervalMs?: number;
  gcIntervalMs?: number;
  /** how often the leader writes heartbeats into status.bus.lastSeen (default 15 s) */
  presenceIntervalMs?: number;
}

export class ControlPlane implements IdentityRevoker {
  readonly o: ControlPlaneOptions;
  readonly log: Logger;
  readonly store: KubeStore;
  trust!: Trust;
  readonly allocator: IpAllocator;
  readonly revocations: Revocations;
  readonly publisher: NetmapPublisher;
  readonly presence = new Presence();
  readonly registry: Registry;
  bus: BusConnections | undefined;
  server: Server | undefined;
  url = '';
  private gcTimer: NodeJS.Timeout | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  private presenceWritten = new Map<string, number>();

  constructor(o: ControlPlaneOptions) {
    this.o = o;
    this.log = o.log ?? jsonLogger('control-plane');
    this.store = new KubeStore(o.kubeConfig, o.namespace ?? 'lattice-system');
    if (o.trustSeeds) this.trust = loadTrust(o.trustSeeds);
    this.allocator = new IpAllocator(this.store, parsePool(o.pool ?? '10.42.0.0/16'));
    this.revocations = new Revocations(this.store, o.credentialLifetimeMs ?? DEFAULT_CREDENTIAL_LIFETIME_MS);
    this.publisher = new NetmapPublisher({
      store: this.store,
      networkCIDR: this.allocator.pool.cidr,
      staticPeers: o.staticPeers ?? [],
      log: this.log,
      intervalMs: o.netmapIntervalMs,
    });
    this.registry = o.registry ?? new Registry();
  }

  async start(): Promise<void> {
    if (!this.trust) this.trust = loadTrust(await ensureTrustSecret(this.store.core, this.store.namespace));
    this.revocations.trust = this.trust;
    this.bus = await connectBus(this.o.natsURL, this.trust, this.log);
    this.revocations.sys = this.bus.sys;
    this.publisher.nc = this.bus.nc;
    await ensureAuditStream(this.bus.nc);
    // A restarted nats-server only knows the preloaded account JWT: push ours (with revocations).
    await this.revocations.push(new Date());
    this.presence.subscribe(this.bus.nc, (ns, name) => {
      this.publisher
        .publishOne(ns, name)
        .catch((err) =>
          this.log('warn', 'netmap publish failed', { namespace: ns, name, error: String(err) }),
        );
    });
    this.publisher.start();
    const { server, url } = await startHttpServer(this.routes(), {
      host: this.o.host ?? '127.0.0.1',
      port: this.o.port ?? 8080,
      log: this.log,
      registry: this.registry,
    });
    this.server = server;
    this.url = url;
    const gc = () => {
      this.gcTimer = setTimeout(async () => {
        if (this.o.isLeader?.() ?? true)
          await this.collectGarbage().catch((err) =>
            this.log('warn', 'claim GC failed', { error: String(err) }),
          );
        gc();
      }, this.o.gcIntervalMs ?? 30_000);
      this.gcTimer.unref();
    };
    gc();
    const presence = () => {
      this.presenceTimer = setTimeout(async () => {
        if (this.o.isLeader?.() ?? true)
          await this.writePresence().catch((err) =>
            this.log('warn', 'writing last-seen failed', { error: String(err) }),
          );
        presence();
      }, this.o.presenceIntervalMs ?? 15_000);
      this.presenceTimer.unref();
    };
    presence();
    this.log('info', 'control plane listening', { url, pool: this.allocator.pool.cidr });
  }

  async stop(): Promise<void> {
    if (this.gcTimer) clearTimeout(this.gcTimer);
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.publisher.stop();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    await this.bus?.nc.close().catch(() => {});
    await this.bus?.sys.close().catch(() => {});
  }

  private nc(): NatsConnection {
    const nc = this.bus?.nc;
    if (!nc || nc.isClosed() || nc.isDraining())
      throw unavailable('bus_unavailable', 'the message bus is not connected');
    return nc;
  }

  routes(): Route[] {
    const enrollDeps = () => ({
      store: this.store,
      allocator: this.allocator,
      revocations: this.revocations,
      trust: this.trust,
      busURL: this.o.busURL ?? this.o.natsURL,
      credentialLifetimeMs: this.o.credentialLifetimeMs ?? DEFAULT_CREDENTIAL_LIFETIME_MS,
      log: this.log,
      onEnrolled: () => this.publisher.kick(),
    });
    return [
      { method: 'GET', path: '/healthz', handle: async () => ({ status: 'ok' }) },
      {
        method: 'GET',
        path: '/readyz',
        handle: async () => {
          this.nc();
          return { status: 'ready' };
        },
      },
      {
        method: 'GET',
        path: '/api/v1/signaling',
        handle: async () => ({
          bus: { url: this.o.busURL ?? this.o.natsURL, auditStream: AUDIT_STREAM },
          networkCIDR: this.allocator.pool.cidr,
          enroll: '/api/v1/enroll',
          netmap: '/api/v1/netmap',
        }),
      },
      {
        method: 'POST',
        path: '/api/v1/enroll',
        handle: async ({ body }) => enroll(enrollDeps(), parseEnrollRequest(body), new Date()),
      },
      {
        method: 'GET',
        path: '/api/v1/netmap',
        handle: async ({ req, url }) => {
          const caller = await this.authenticate(req.headers, 'GET', url.pathname);
          const map = await this.publisher.netmapFor(caller.namespace, caller.name);
          if (!map)
            throw notFound(
              'not_enrolled',
              `sandbox ${caller.namespace}/${caller.name} has no overlay identity`,
            );
          return map;
        },
      },
      {
        method: 'POST',
        path: '/api/v1/credentials/renew',
        handle: async ({ req, url }) => {
          const caller = await this.authenticate(req.headers, 'POST', url.pathname);
          const sandbox = await this.store.getSandbox(caller.namespace, caller.name);
          if (!sandbox)
            throw notFound('sandbox_not_found', `sandbox ${caller.namespace}/${caller.name} does not exist`);
          return {
            credential: issueCredential(
              this.trust,
              { namespace: sandbox.namespace, name: sandbox.name, agentName: sandbox.agentName },
              caller.busPublicKey,
              new Date(),
              this.o.credentialLifetimeMs,
            ),
          };
        },
      },
      {
        method: 'GET',
        path: '/api/v1/audit/flow',
        handle: async ({ url }) => {
          const q = parseAuditQuery(url.searchParams, Date.now());
          let page: Awaited<ReturnType<typeof queryAudit>>;
          try {
            page = await queryAudit(this.nc(), q);
          } catch (err) {
            if (!isBusUnavailable(err)) throw err;
            this.log('warn', 'audit query: bus unavailable', { error: String(err) });
            throw unavailable(
              'bus_unavailable',
              'the audit stream is not reachable right now; retry shortly',
            );
          }
          return {
            agentName: q.agentName,
            count: page.records.length,
            records: page.records,
            nextCursor: page.cursor ?? null,
          };
        },
      },
      {
        method: 'GET',
        path: '/metrics',
        handle: async () => new RawText(this.registry.contentType, await this.registry.metrics()),
      },
    ];
  }

  /** A signed request from a datapath whose credential is still the one bound to its sandbox. */
  private async authenticate(
    headers: Record<string, string | string[] | undefined>,
    method: string,
    path: string,
  ) {
    const caller = verifyRequest(headers, method, path, this.trust.account.getPublicKey(), new Date());
    const claims = await this.store.listClaims();
    const bound = claims.find(
      (c) => c.state === 'bound' && c.namespace === caller.namespace && c.name === caller.name,
    );
    if (!bound || bound.busPublicKey !== caller.busPublicKey) {
      throw unauthorized(
        'credential_revoked',
        'this credential is no longer bound to the sandbox; enroll again',
      );
    }
    return caller;
  }

  /** IdentityRevoker: takes the sandbox off the overlay and the bus, releases its address. Idempotent. */
  async revoke(sandbox: SandboxIdentity): Promise<void> {
    const claims = await this.store.listClaims(sandbox.uid);
    const keys = claims.map((c) => c.busPublicKey).filter((k) => k);
    // Tell the sandbox first (its connection is cut by the credential revocation right after),
    // then release the address so the peers' next netmap drops it.
    await this.publisher.publishRevocation(sandbox.namespace, sandbox.name, sandbox.uid, 'sandbox deleted');
    await this.revocations.revoke(keys, new Date());
    for (const c of claims) await this.store.deleteClaim(c.ip);
    this.publisher.kick();
    this.log('info', 'sandbox identity revoked', {
      namespace: sandbox.namespace,
      name: sandbox.name,
      released: claims.map((c) => c.ip),
    });
  }

  /**
   * `status.bus.lastSeen` of every sandbox whose datapath sent a heartbeat since the last write.
   * Heartbeats come every 10 s; the status is written at most once per interval per sandbox, so
   * a thousand sandboxes cost the apiserver a thousand small patches per interval, not per beat.
   */
  async writePresence(): Promise<number> {
    let written = 0;
    for (const [key, seen] of this.presence.lastSeen) {
      if ((this.presenceWritten.get(key) ?? 0) >= seen) continue;
      const [namespace, name] = key.split('/');
      try {
        await this.store.patchSandboxStatus(namespace, name, {
          bus: { lastSeen: new Date(seen).toISOString() },
        });
        this.presenceWritten.set(key, seen);
        written++;
      } catch (err) {
        if (isNotFound(err)) {
          this.presence.lastSeen.delete(key);
          this.presenceWritten.delete(key);
        } else throw err;
      }
    }
    return written;
  }

  /** Claims of sandboxes that no longer exist, and pending claims of abandoned attempts. */
  async collectGarbage(now = new Date()): Promise<number> {
    const [claims, sandboxes] = await Promise.all([this.store.listClaims(), this.store.listSandboxes()]);
    const live = new Set(sandboxes.map((s) => s.uid));
    let removed = 0;
    for (const c of claims) {
      const abandoned = c.state === 'pending' && now.getTime() - Date.parse(c.createdAt) > 5 * 60_000;
      if (live.has(c.uid) && !abandoned) continue;
      if (!live.has(c.uid))
        await this.revoke({ namespace: c.namespace, name: c.name, uid: c.uid, agentName: c.agentName });
      else await this.store.deleteClaim(c.ip, c.resourceVersion).catch(() => {});
      removed++;
    }
    return removed;
  }
}
