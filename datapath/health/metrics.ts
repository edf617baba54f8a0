// Prometheus metrics of the datapath, on one prom-client Registry that other parts (WireGuard,
// netstack, bus) add their own metrics to: create them with the Counter/Gauge/Histogram exported
// here and `registers: [metrics.registry]`. Counters move once per connection
// (never per byte or per chunk), so metrics stay off the byte path.

import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

// prom-client's index also loads its Pushgateway, which loads node:http and node:https (~14 MiB of
// RSS in a process that has no other use for them). We load the pieces we use directly; the types
// come from the package's own declarations. Other parts should take Counter/Gauge/Histogram from
// here for the same reason.
const require = createRequire(import.meta.url);
export const Registry: typeof Prom.Registry = require('prom-client/lib/registry');
export const Counter: typeof Prom.Counter = require('prom-client/lib/counter');
export const Gauge: typeof Prom.Gauge = require('prom-client/lib/gauge');
export const Histogram: typeof Prom.Histogram = require('prom-client/lib/histogram');

// prom-client's default metrics, one module each, except its process CPU counter: that one loads
// @opentelemetry/api (for exemplars we do not use), ~9 MiB of RSS. The CPU counters are ours below.
type DefaultMetric = (
  registry: Prom.Registry,
  config: { prefix: string; eventLoopMonitoringPrecision: number },
) => void;
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

function registerDefaultMetrics(registry: Prom.Registry, prefix: string): void {
  const config = { prefix, eventLoopMonitoringPrecision: 10 };
  for (const name of DEFAULT_METRICS)
    (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
  const cpu = (which: 'user' | 'system' | 'total') =>
    new Counter({
      name: `${prefix}process_cpu_${which === 'total' ? '' : `${which}_`}seconds_total`,
      help: `${which === 'total' ? 'Total user and system' : which === 'user' ? 'User' : 'System'} CPU time spent in seconds.`,
      registers: [registry],
      collect() {
        const u = process.cpuUsage();
        const seconds = which === 'user' ? u.user : which === 'system' ? u.system : u.user + u.system;
        // a counter's value is set by resetting and adding the current total
        this.reset();
        this.inc(seconds / 1e6);
      },
    });
  cpu('user');
  cpu('system');
  cpu('total');
}

export class DatapathMetrics {
  readonly registry: Prom.Registry = new Registry();
  readonly connections: Prom.Counter<'decision' | 'rule' | 'proto'>;
  readonly bytes: Prom.Counter<'direction'>;
  readonly active: Prom.Gauge<'kind'>;
  readonly dialSeconds: Prom.Histogram<'result'>;
  readonly rejected: Prom.Counter<'reason'>;
  readonly auditRecords: Prom.Counter;
  readonly auditWriteErrors: Prom.Counter;
  readonly policyReloads: Prom.Counter<'result'>;
  readonly closedByPolicy: Prom.Counter;

  constructor() {
    const registers = [this.registry];
    registerDefaultMetrics(this.registry, 'lattice_');
    this.connections = new Counter({
      name: 'lattice_connections_total',
      help: 'Connections decided, by decision (allow/deny/error), deciding rule (or built-in reason) and protocol',
      labelNames: ['decision', 'rule', 'proto'],
      registers,
    });
    this.bytes = new Counter({
      name: 'lattice_bytes_total',
      help: 'Payload bytes relayed; up = client to destination, down = destination to client (counted at close)',
      labelNames: ['direction'],
      registers,
    });
    this.active = new Gauge({
      name: 'lattice_active_connections',
      help: 'Open relayed connections',
      labelNames: ['kind'],
      registers,
    });
    this.dialSeconds = new Histogram({
      name: 'lattice_dial_duration_seconds',
      help: 'Time to open the outbound connection, by result',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rejected = new Counter({
      name: 'lattice_rejected_connections_total',
      help: 'Client connections refused before a decision: limit, malformed, audit-unavailable, shutting-down, handshake-timeout',
      labelNames: ['reason'],
      registers,
    });
    this.auditRecords = new Counter({
      name: 'lattice_audit_records_total',
      help: 'Audit records written',
      registers,
    });
    this.auditWriteErrors = new Counter({
      name: 'lattice_audit_write_errors_total',
      help: 'Audit records that could not be written',
      registers,
    });
    this.policyReloads = new Counter({
      name: 'lattice_policy_reloads_total',
      help: 'Policy replacements, by result',
      labelNames: ['result'],
      registers,
    });
    this.closedByPolicy = new Counter({
      name: 'lattice_connections_closed_by_policy_total',
      help: 'Open connections closed because a new policy no longer allows them',
      registers,
    });
  }

  // Label hashing in prom-client sorts and joins the label names on every call; the per-connection
  // counters go through cached children instead (one Map lookup).
  private readonly decidedChildren = new Map<string, Prom.Counter.Internal>();
  private readonly dialChildren = new Map<string, Prom.Histogram.Internal<'result'>>();
  private upChild: Prom.Counter.Internal | null = null;
  private downChild: Prom.Counter.Internal | null = null;

  decided(decision: string, rule: string, proto: string): void {
    const key = `${decision}\u0000${rule}\u0000${proto}`;
    let c = this.decidedChildren.get(key);
    if (c === undefined) {
      c = this.connections.labels({ decision, rule, proto });
      this.decidedChildren.set(key, c);
    }
    c.inc();
  }

  dialed(result: string, seconds: number): void {
    let h = this.dialChildren.get(result);
    if (h === undefined) {
      h = this.dialSeconds.labels({ result });
      this.dialChildren.set(result, h);
    }
    h.observe(seconds);
  }

  private readonly activeChildren = new Map<string, Prom.Gauge.Internal<'kind'>>();

  activeConnections(kind: 'egress' | 'ingress', delta: number): void {
    let g = this.activeChildren.get(kind);
    if (g === undefined) {
      g = this.active.labels({ kind });
      this.activeChildren.set(kind, g);
    }
    g.inc(delta);
  }

  relayed(up: number, down: number): void {
    this.upChild ??= this.bytes.labels({ direction: 'up' });
    this.downChild ??= this.bytes.labels({ direction: 'down' });
    if (up > 0) this.upChild.inc(up);
    if (down > 0) this.downChild.inc(down);
  }
}
