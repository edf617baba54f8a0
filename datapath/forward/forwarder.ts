// One forward: peers connecting to its listener reach the target inside the sandbox, if allowFrom
// admits them; every connection is audited as ingress (a decision record, and a close record for
// admitted ones) and relayed with the same Relay as the proxy.

import type { Duplex } from 'node:stream';
import type { AuditFields } from '../audit/record.ts';
import type { ForwardSpec } from '../config/settings.ts';
import type { Dialer } from '../dial/dialer.ts';
import type { OwnedReads } from '../dial/owned-reads.ts';
import type { Resolver } from '../dial/resolver.ts';
import { formatAddress, formatEndpoint, type IPAddress } from '../policy/address.ts';
import { classifyDestination } from '../policy/destination.ts';
import type { ProxyDeps } from '../proxy/deps.ts';
import { Relay } from '../proxy/relay.ts';
import { type AllowFrom, parseAllowFrom, peerAllowed } from './allow-from.ts';
import type { PeerInfo, StreamListener } from './listener.ts';

export interface ForwardCounters {
  accepted: number;
  denied: number;
  failed: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
}

export class Forwarder {
  readonly spec: ForwardSpec;
  readonly counters: ForwardCounters = {
    accepted: 0,
    denied: 0,
    failed: 0,
    active: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private readonly allow: AllowFrom;
  private readonly deps: ProxyDeps;
  private readonly dialer: Dialer;
  private readonly resolver: Resolver;
  private listener: StreamListener | null = null;
  bound: string | null = null;

  constructor(spec: ForwardSpec, deps: ProxyDeps, dialer: Dialer, resolver: Resolver) {
    this.spec = spec;
    this.allow = parseAllowFrom(spec.allowFrom);
    this.deps = deps;
    this.dialer = dialer;
    this.resolver = resolver;
  }

  async start(listener: StreamListener): Promise<{ address: string; port: number }> {
    this.listener = listener;
    const a = await listener.start((s, p) => void this.onStream(s, p));
    this.bound = `${a.address}:${a.port}`;
    return a;
  }

  stopAccepting(): Promise<void> {
    return this.listener?.close() ?? Promise.resolve();
  }

  private async onStream(stream: Duplex, peer: PeerInfo): Promise<void> {
    const d = this.deps;
    const id = d.tracker.nextId();
    const started = Date.now();
    stream.on('error', () => stream.destroy());
    const rec: AuditFields = {
      event: 'decision',
      conn: id,
      session: peer.name,
      dir: 'ingress',
      proto: 'forward',
      src: peer.address === null ? `?:${peer.port}` : formatEndpoint(peer.address, peer.port),
      host: this.spec.targetHost,
      port: this.spec.targetPort,
      resolved: null,
      dialed: null,
      path: null,
      decision: 'allow',
      rule: `forward ${this.spec.port}`,
      reason: 'allow-from',
      reply: null,
      bytesUp: null,
      bytesDown: null,
      durationMs: null,
    };
    if (d.draining() || !peerAllowed(this.allow, peer)) {
      rec.decision = 'deny';
      rec.reason = d.draining() ? 'shutting-down' : 'allow-from';
      this.counters.denied++;
      d.audit.append(rec);
      d.metrics.decided('deny', rec.rule ?? '', 'forward');
      stream.destroy();
      return;
    }
    if (!d.audit.append(rec) && d.failClosed) {
      d.metrics.rejected.inc({ reason: 'audit-unavailable' });
      stream.destroy();
      return;
    }
    d.metrics.decided('allow', rec.rule ?? '', 'forward');
    const close: AuditFields = { ...rec, event: 'close', bytesUp: 0, bytesDown: 0 };
    const fail = (reason: string) => {
      this.counters.failed++;
      close.reason = reason;
      close.durationMs = Date.now() - started;
      d.audit.append(close);
      stream.destroy();
    };
    let addresses: IPAddress[];
    const dest = classifyDestination(this.spec.targetHost);
    if (dest.kind === 'address') addresses = [dest.address];
    else if (dest.kind === 'name') {
      try {
        addresses = await this.resolver.resolve(dest.name, d.limits.dialMs);
      } catch {
        return fail('dns-failure');
      }
    } else return fail('invalid-host');
    close.resolved = addresses.map(formatAddress);
    close.dialed = formatEndpoint(addresses[0], this.spec.targetPort);
    let up: Duplex;
    let reads: OwnedReads | undefined;
    try {
      const r = await this.dialer.dial(
        { address: addresses[0], port: this.spec.targetPort },
        { connId: id, timeoutMs: d.limits.dialMs },
      );
      up = r.stream;
      reads = r.reads;
      close.path = r.path;
    } catch (e) {
      return fail((e as { kind?: string }).kind ?? 'unreachable');
    }
    if (stream.destroyed) {
      up.destroy();
      return fail('client-closed');
    }
    this.counters.accepted++;
    this.counters.active++;
    d.metrics.activeConnections('ingress', 1);
    // for ingress, "up" is peer → target (bytes into the sandbox)
    const relay = new Relay(
      stream,
      up,
      (r, reason) => {
        d.tracker.remove(id);
        this.counters.active--;
        this.counters.bytesIn += r.up;
        this.counters.bytesOut += r.down;
        d.metrics.activeConnections('ingress', -1);
        d.metrics.relayed(r.up, r.down);
        close.reason = reason;
        close.bytesUp = r.up;
        close.bytesDown = r.down;
        close.durationMs = Date.now() - started;
        d.audit.appendSoon(close);
      },
      reads,
    );
    d.tracker.add({
      id,
      dir: 'ingress',
      host: null,
      addresses: [],
      port: this.spec.targetPort,
      close: (why) => relay.close(why),
    });
    relay.closeWhenIdle(d.timeouts, d.limits.idleMs);
    relay.start(null);
  }
}
