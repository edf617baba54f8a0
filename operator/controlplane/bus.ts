// The control plane's NATS side: a connection as the control-plane user (netmaps, heartbeats, the
// audit stream), a system-account connection (account JWT updates), the audit stream itself, and
// the audit query. Thin over nats.js.

import {
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { credsAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type AuditQuery, encodeCursor, inRange } from './audit-query.ts';
import type { Logger } from './log.ts';
import { controlPlaneCreds, systemCreds, type Trust } from './nats-trust.ts';
import { AUDIT_STREAM, AUDIT_SUBJECTS, auditFilter, HEARTBEAT_WILDCARD } from './subjects.ts';

const enc = new TextEncoder();

export interface BusConnections {
  nc: NatsConnection;
  sys: NatsConnection;
}

export async function connectBus(url: string, trust: Trust, log: Logger): Promise<BusConnections> {
  const common = {
    servers: url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  } as const;
  const nc = await connect({
    ...common,
    name: 'lattice-control-plane',
    authenticator: credsAuthenticator(enc.encode(controlPlaneCreds(trust, new Date()))),
  });
  const sys = await connect({
    ...common,
    name: 'lattice-control-plane-sys',
    authenticator: credsAuthenticator(enc.encode(systemCreds(trust, new Date()))),
  });
  for (const [name, c] of [
    ['bus', nc],
    ['sys', sys],
  ] as const) {
    (async () => {
      for await (const s of c.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
          log('info', `nats ${name} ${s.type}`, {});
      }
    })().catch(() => {});
  }
  return { nc, sys };
}

export const AUDIT_DUPLICATE_WINDOW_NS = 3_600_000_000_000; // 1 h: longer than any realistic retry burst

/** Creates or updates the audit stream (idempotent; any replica may call it). */
export async function ensureAuditStream(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: AUDIT_STREAM,
    subjects: [AUDIT_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: AUDIT_DUPLICATE_WINDOW_NS,
    max_age: 30 * 86_400_000_000_000,
    num_replicas: 1,
  };
  try {
    await jsm.streams.info(AUDIT_STREAM);
    await jsm.streams.update(AUDIT_STREAM, config);
  } catch {
    await jsm.streams.add(config);
  }
  return jsm;
}

export interface AuditPage {
  records: unknown[];
  cursor?: string;
}

/** At most this many stream messages are read for one page, so a sparse range cannot make one request unbounded. */
export const SCAN_CAP = 5000;

/**
 * Errors that mean "the bus (or its JetStream) is not reachable right now", as opposed to a bug:
 * the connection is closed, draining or reconnecting, a request timed out or found no responder,
 * or JetStream is still recovering its streams after a server restart. The API answers these with
 * 503 so that clients retry, instead of a 500 that reads like a bug.
 */
const BUS_UNAVAILABLE = new Set([
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'RequestError',
  'TimeoutError',
  'NoResponders',
  'JetStreamNotEnabled',
  'JetStreamStatusError',
  'StreamNotFoundError',
]);

export function isBusUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (BUS_UNAVAILABLE.has(e.name)) return true;
  }
  return false;
}

export async function queryAudit(nc: NatsConnection, q: AuditQuery): Promise<AuditPage> {
  const js = jetstream(nc);
  const filter = auditFilter(q.agentName, q.namespace);
  const opts: Record<string, unknown> = { filter_subjects: [filter] };
  if (q.startSeq !== undefined) {
    opts.deliver_policy = DeliverPolicy.StartSequence;
    opts.opt_start_seq = q.startSeq;
  } else if (q.from > 0) {
    // Stream time is arrival time, never before the record's own time (records buffered during an
    // outage arrive later), so starting at `from` by stream time cannot skip a record in range.
    opts.deliver_policy = DeliverPolicy.StartTime;
    opts.opt_start_time = new Date(q.from - 5000).toISOString();
  } else {
    opts.deliver_policy = DeliverPolicy.All;
  }
  const consumer = await js.consumers.get(AUDIT_STREAM, opts);
  try {
    // num_pending at creation = the filtered messages from the start point to the stream's end, so
    // "scanned fewer than that" is exactly "there is more after the last one read".
    const info = await consumer.info(true);
    const budget = Math.min(info.num_pending, SCAN_CAP);
    const records: unknown[] = [];
    let scanned = 0;
    let lastSeq = 0;
    while (scanned < budget && records.length < q.limit) {
      const msgs = await consumer.fetch({ max_messages: Math.min(budget - scanned, 256), expires: 5000 });
      let got = 0;
      for await (const m of msgs) {
        got++;
        scanned++;
        lastSeq = m.seq;
        let rec: { time?: unknown } | undefined;
        try {
          rec = m.json();
        } catch {
          rec = undefined;
        }
        if (rec && inRange(q, rec.time)) records.push(rec);
        if (records.length >= q.limit) break;
      }
      if (got === 0) break;
    }
    return scanned < info.num_pending && lastSeq > 0
      ? { records, cursor: encodeCursor(q, lastSeq + 1) }
      : { records };
  } finally {
    await consumer.delete().catch(() => {});
  }
}

/** What a datapath sends on its heartbeat subject. */
export interface Heartbeat {
  /** The netmap version the datapath has applied (0: none yet). */
  netmapVersion?: number;
  /** Set on (re)connect: the datapath asks for its current netmap now. */
  needNetmap?: boolean;
}

/**
 * Keeps the last heartbeat time per `namespace/name`, and passes requests for a netmap on (a
 * datapath that just connected cannot have seen the last one published).
 */
export class Presence {
  readonly lastSeen = new Map<string, number>();

  subscribe(nc: NatsConnection, onNeedNetmap: (namespace: string, name: string) => void): void {
    const sub = nc.subscribe(HEARTBEAT_WILDCARD);
    (async () => {
      for await (const m of sub) {
        const [, , ns, token] = m.subject.split('.');
        const name = token.replaceAll('_', '.');
        this.lastSeen.set(`${ns}/${name}`, Date.now());
        let hb: Heartbeat = {};
        try {
          hb = m.json();
        } catch {
          hb = {};
        }
        if (hb?.needNetmap === true) onNeedNetmap(ns, name);
      }
    })().catch(() => {});
  }
}

export function publishJson(nc: NatsConnection, subject: string, value: unknown): void {
  nc.publish(subject, enc.encode(JSON.stringify(value)));
}
