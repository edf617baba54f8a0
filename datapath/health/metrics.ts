// Prometheus metrics of the datapath, on one prom-client Registry that other parts (WireGuard,
// netstack, bus) add their own metrics to: `metrics.registry.registerMetric(...)` or pass
// `registers: [metrics.registry]` when creating a metric. Counters move once per connection
// (never per byte or per chunk), so metrics stay off the byte path.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class DatapathMetrics {
  readonly registry = new Registry();
  readonly connections: Counter<'decision' | 'rule' | 'proto'>;
  readonly bytes: Counter<'direction'>;
  readonly active: Gauge<'kind'>;
  readonly dialSeconds: Histogram<'result'>;
  readonly rejected: Counter<'reason'>;
  readonly auditRecords: Counter;
  readonly auditWriteErrors: Counter;
  readonly policyReloads: Counter<'result'>;
  readonly closedByPolicy: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'lattice_' });
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
}
