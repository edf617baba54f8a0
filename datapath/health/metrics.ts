// Prometheus metrics of the datapath, on one prom-client Registry that other parts (WireGuard,
// netstack, bus) add their own metrics to: create them with the Counter/Gauge/Histogram exported
// here and `registers: [metrics.registry]`. Counters move once per connection
// (never per byte or per chunk), so metrics stay off the byte path.

import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';
import { type CountSlot, type HistogramSlot, HotCount, HotHistogram } from './hot-metrics.ts';

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
  // (the per-connection ones are hot-metrics.ts counts; the rest prom-client's own)
  private readonly connections: HotCount;
  private readonly bytes: HotCount;
  private readonly active: HotCount;
  private readonly dialSeconds: HotHistogram;
  private readonly audited: HotCount;
  readonly rejected: Prom.Counter<'reason'>;
  readonly auditWriteErrors: Prom.Counter;
  readonly policyReloads: Prom.Counter<'result'>;
  readonly closedByPolicy: Prom.Counter;

  constructor() {
    const registers = [this.registry];
    registerDefaultMetrics(this.registry, 'lattice_');
    const registry = this.registry;
    this.connections = new HotCount({
      name: 'lattice_connections_total',
      help: 'Connections decided, by decision (allow/deny/error), deciding rule (or built-in reason) and protocol',
      type: 'counter',
      registry,
    });
    this.bytes = new HotCount({
      name: 'lattice_bytes_total',
      help: 'Payload bytes relayed; up = client to destination, down = destination to client (counted at close)',
      type: 'counter',
      registry,
    });
    this.upBytes = this.bytes.slot({ direction: 'up' });
    this.downBytes = this.bytes.slot({ direction: 'down' });
    this.active = new HotCount({
      name: 'lattice_active_connections',
      help: 'Open relayed connections',
      type: 'gauge',
      registry,
    });
    this.dialSeconds = new HotHistogram({
      name: 'lattice_dial_duration_seconds',
      help: 'Time to open the outbound connection, by result',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registry,
    });
    this.rejected = new Counter({
      name: 'lattice_rejected_connections_total',
      help: 'Client connections refused before a decision: limit, malformed, audit-unavailable, shutting-down, handshake-timeout',
      labelNames: ['reason'],
      registers,
    });
    this.audited = new HotCount({
      name: 'lattice_audit_records_total',
      help: 'Audit records written',
      type: 'counter',
      registry,
    });
    this.auditedSlot = this.audited.slot();
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

  private readonly upBytes: CountSlot;
  private readonly downBytes: CountSlot;
  private readonly auditedSlot: CountSlot;
  // slots by proto, then decision, then rule: lookups with strings the callers already hold
  private readonly decidedSlots = new Map<string, Map<string, Map<string, CountSlot>>>();
  private readonly dialSlots = new Map<string, HistogramSlot>();
  private readonly activeSlots = new Map<string, CountSlot>();

  decided(decision: string, rule: string, proto: string): void {
    let byDecision = this.decidedSlots.get(proto);
    if (byDecision === undefined) {
      byDecision = new Map();
      this.decidedSlots.set(proto, byDecision);
    }
    let byRule = byDecision.get(decision);
    if (byRule === undefined) {
      byRule = new Map();
      byDecision.set(decision, byRule);
    }
    let s = byRule.get(rule);
    if (s === undefined) {
      s = this.connections.slot({ decision, rule, proto });
      byRule.set(rule, s);
    }
    s.value++;
  }

  dialed(result: string, seconds: number): void {
    let s = this.dialSlots.get(result);
    if (s === undefined) {
      s = this.dialSeconds.slot({ result });
      this.dialSlots.set(result, s);
    }
    this.dialSeconds.observe(s, seconds);
  }

  activeConnections(kind: 'egress' | 'ingress', delta: number): void {
    let s = this.activeSlots.get(kind);
    if (s === undefined) {
      s = this.active.slot({ kind });
      this.activeSlots.set(kind, s);
    }
    s.value += delta;
  }

  /** Audit records written (the writer's onWrite). */
  auditRecords(n: number): void {
    this.auditedSlot.value += n;
  }

  relayed(up: number, down: number): void {
    this.upBytes.value += up;
    this.downBytes.value += down;
  }
}
