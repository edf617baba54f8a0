// What the proxy (and forwards) need from the rest of the datapath, as one explicit object, so tests
// and other modes can wire them differently.

import type { AuditFields } from '../audit/record.ts';
import type { Logger } from '../cli/log.ts';
import type { Dialer } from '../dial/dialer.ts';
import type { Resolver } from '../dial/resolver.ts';
import type { DatapathMetrics } from '../health/metrics.ts';
import type { CurrentPolicy } from '../policy/current.ts';
import type { EgressStats } from './stats.ts';
import type { Timeouts } from './timeouts.ts';
import type { ConnectionTracker } from './tracker.ts';

export interface AuditSink {
  /** Writes the record now (with any waiting); false when it could not be written. */
  append(f: AuditFields): boolean;
  /** For records nothing waits on (close records): written within a few ms, with others. */
  appendSoon(f: AuditFields): void;
  /**
   * A write has succeeded since the start or the last failure: a decision record may then be
   * appended after the dial (before any byte is relayed) instead of before it.
   */
  readonly knownWritable: boolean;
}

export interface ProxyLimits {
  /** from accept to a complete request */
  readonly handshakeMs: number;
  /** name resolution and the dial, each */
  readonly dialMs: number;
  /** a relayed connection with no bytes either way for this long is closed */
  readonly idleMs: number;
  /** client connections open at once; more are closed at accept */
  readonly maxConnections: number;
}

export interface ProxyDeps {
  readonly policy: CurrentPolicy;
  readonly resolver: Resolver;
  readonly dialer: Dialer;
  readonly audit: AuditSink;
  /** refuse connections whose decision record cannot be written */
  readonly failClosed: boolean;
  readonly limits: ProxyLimits;
  readonly tracker: ConnectionTracker;
  /** handshake and idle timeouts, one coarse tick for all connections */
  readonly timeouts: Timeouts;
  readonly metrics: DatapathMetrics;
  readonly stats: EgressStats;
  readonly log: Logger;
  draining(): boolean;
}
