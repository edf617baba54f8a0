// Prometheus metrics named like controller-runtime's, so existing dashboards and alerts work:
// controller_runtime_reconcile_total{controller,result}, controller_runtime_reconcile_errors_total,
// controller_runtime_reconcile_time_seconds, controller_runtime_max_concurrent_reconciles,
// controller_runtime_active_workers, workqueue_depth, workqueue_adds_total, workqueue_retries_total,
// workqueue_queue_duration_seconds, leader_election_master_status, rest_client_requests_total.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueMetrics } from './workqueue.ts';

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcilePanics = new Counter({
    name: 'controller_runtime_reconcile_panics_total',
    help: 'Total number of reconciliations that threw something other than a classified error',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly maxConcurrent = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly activeWorkers = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: ['name'] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests to the apiserver, partitioned by method and status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'lattice_informer_watch_restarts_total',
    help: 'Watch restarts per resource and reason (rewatch: stream ended; relist: 410 Gone; error: failed)',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });

  queueMetrics(name: string): QueueMetrics {
    return {
      depth: (n) => this.depth.set({ name }, n),
      added: () => this.adds.inc({ name }),
      retried: () => this.retries.inc({ name }),
      queued: (ms) => this.queueDuration.observe({ name }, ms / 1000),
    };
  }

  /** Writes (POST/PUT/PATCH/DELETE) sent to the apiserver, by resource (plural); tests read it. */
  readonly writes = new Map<string, number>();

  observeRequest(method: string, code: number | 'error', path: string): void {
    this.requests.inc({ method, code: String(code) });
    if (method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE') {
      const r = resourceOf(path);
      this.writes.set(r, (this.writes.get(r) ?? 0) + 1);
    }
  }

  /** Writes to everything but the leader-election Lease (whose renewals are writes by design). */
  get writeCount(): number {
    let n = 0;
    for (const [r, v] of this.writes) if (r !== 'leases') n += v;
    return n;
  }
}

/** "/api/v1/namespaces/ns/pods/x/status" → "pods". */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const i = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(i);
  if (rest[0] === 'namespaces' && rest.length > 2) return rest[2];
  return rest[0] ?? '';
}
