// Publishes each enrolled sandbox's netmap on its own subject. Level-triggered: a sync computes
// every netmap from the claims and Pods in Kubernetes and publishes those whose membership changed
// (all of them on a full resync, so a datapath that missed a message catches up). Syncs run on a
// short interval, and at once after an enrollment or a revocation.
import type { NatsConnection } from '@nats-io/nats-core';
import { publishJson } from './bus.ts';
import type { Claim, KubeStore } from './kube-store.ts';
import type { Logger } from './log.ts';
import {
  buildNetmap,
  type Identity,
  type Netmap,
  type Revocation,
  type StaticPeer,
  sameMembership,
} from './netmap.ts';
import { netmapSubject } from './subjects.ts';

export interface PublisherOptions {
  store: KubeStore;
  networkCIDR: string;
  staticPeers: StaticPeer[];
  log: Logger;
  intervalMs?: number;
  fullResyncMs?: number;
}

export function identityOf(c: Claim): Identity {
  return {
    namespace: c.namespace,
    name: c.name,
    uid: c.uid,
    publicKey: c.publicKey,
    overlayIP: c.ip,
    wgPort: c.wgPort,
  };
}

export class NetmapPublisher {
  readonly o: PublisherOptions;
  nc: NatsConnection | undefined;
  private last = new Map<string, Netmap>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private lastFull = 0;
  private stopped = false;

  constructor(o: PublisherOptions) {
    this.o = o;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.kick();
      this.timer = setTimeout(tick, this.o.intervalMs ?? 2000);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Runs a sync now (coalescing: at most one running and one queued). */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sync()
      .catch((err) => this.o.log('warn', 'netmap sync failed', { error: String(err) }))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async compute(): Promise<Map<string, Netmap>> {
    const [claims, pods] = await Promise.all([this.o.store.listClaims(), this.o.store.sandboxPodIPs()]);
    const ids = claims.filter((c) => c.state === 'bound').map(identityOf);
    const version = Date.now();
    const maps = new Map<string, Netmap>();
    for (const id of ids)
      maps.set(
        `${id.namespace}/${id.name}`,
        buildNetmap(id, ids, pods, this.o.staticPeers, this.o.networkCIDR, version),
      );
    return maps;
  }

  async netmapFor(namespace: string, name: string): Promise<Netmap | undefined> {
    return (await this.compute()).get(`${namespace}/${name}`);
  }

  private async sync(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const maps = await this.compute();
    const full = Date.now() - this.lastFull >= (this.o.fullResyncMs ?? 30_000);
    if (full) this.lastFull = Date.now();
    for (const [key, map] of maps) {
      if (!full && sameMembership(this.last.get(key), map)) continue;
      publishJson(nc, netmapSubject(map.self), map);
      this.last.set(key, map);
    }
    for (const key of this.last.keys()) if (!maps.has(key)) this.last.delete(key);
    await nc.flush();
  }

  /** Publishes one sandbox's current netmap now, changed or not (it asked for it). */
  async publishOne(namespace: string, name: string): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const map = await this.netmapFor(namespace, name);
    if (!map) return;
    publishJson(nc, netmapSubject(map.self), map);
    this.last.set(`${namespace}/${name}`, map);
  }

  /** Tells a sandbox at once that its identity is gone (it stops using the overlay). */
  async publishRevocation(namespace: string, name: string, uid: string, reason: string): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const msg: Revocation = { type: 'revoked', version: Date.now(), reason, uid };
    publishJson(nc, netmapSubject({ namespace, name }), msg);
    this.last.delete(`${namespace}/${name}`);
    await nc.flush().catch(() => {});
  }
}
