// Wires the runtime together for one process: the apiserver client, metrics, Events, the
// probe/metrics server, leader election, and the registered controllers. Controllers start
// only while this process holds the Lease; losing it calls onLostLeadership (the operator
// exits and is restarted as a standby, so no two leaders ever reconcile at once).
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { Controller, type Handler } from './controller.ts';
import { EventRecorder } from './events.ts';
import { KubeClient, type KubeObject } from './kube.ts';
import { LeaderElector } from './leader.ts';
import type { Logger } from './log.ts';
import { RuntimeMetrics } from './metrics.ts';
import { serveProbes } from './server.ts';

export type ManagerOptions = {
  kubeConfig: KubeConfig;
  log: Logger;
  /** Watch only this namespace; undefined watches all. */
  namespace?: string;
  watch?: { timeoutSeconds?: number; idleMs?: number };
  /** HOST:PORT for /healthz, /readyz, /metrics; undefined serves nothing. */
  probeAddr?: string;
  leaderElection?: {
    namespace: string;
    name: string;
    identity?: string;
    leaseMs?: number;
    renewDeadlineMs?: number;
    retryMs?: number;
  };
  onLostLeadership?(): void;
  controllerName?: string;
};

export class Manager {
  readonly client: KubeClient;
  readonly metrics = new RuntimeMetrics();
  readonly events: EventRecorder;
  readonly identity: string;
  readonly #o: ManagerOptions;
  readonly #controllers: Controller<KubeObject, unknown>[] = [];
  #elector: LeaderElector | undefined;
  #server: { port: number; close(): Promise<void> } | undefined;
  #started = false;
  #running: Promise<void> | undefined;

  constructor(o: ManagerOptions) {
    this.#o = o;
    this.client = new KubeClient(o.kubeConfig);
    this.client.observe = (m, s, p) => this.metrics.observeRequest(m, s, p);
    this.identity = o.leaderElection?.identity ?? `${hostname()}_${process.pid}`;
    this.events = new EventRecorder(
      this.client,
      o.controllerName ?? 'lattice-operator',
      this.identity,
      o.log,
    );
  }

  register<T extends KubeObject, S>(h: Handler<T, S>): Controller<T, S> {
    const c = new Controller<T, S>(h, {
      client: this.client,
      log: this.#o.log,
      metrics: this.metrics,
      events: this.events,
      namespace: this.#o.namespace,
      watch: this.#o.watch,
    });
    this.#controllers.push(c as unknown as Controller<KubeObject, unknown>);
    return c;
  }

  get probePort(): number | undefined {
    return this.#server?.port;
  }

  get isLeader(): boolean {
    return this.#elector ? this.#elector.isLeader : this.#started;
  }

  /** Keys waiting in the controllers' queues (not counting delayed requeues). */
  get pending(): number {
    return this.#controllers.reduce((n, c) => n + c.queue.length, 0);
  }

  get synced(): boolean {
    return this.#controllers.every((c) => c.synced);
  }

  async start(): Promise<void> {
    const { log } = this.#o;
    if (this.#o.probeAddr !== undefined) {
      this.#server = await serveProbes(this.#o.probeAddr, this.metrics.registry, {
        healthz: () => ({ ok: true }),
        // A standby is ready (it is healthy and waiting); a leader is ready once its caches synced.
        readyz: () =>
          !this.isLeader || this.synced ? { ok: true } : { ok: false, detail: 'caches not synced' },
      });
      log.info('serving probes and metrics', { port: this.#server.port });
    }
    const le = this.#o.leaderElection;
    if (!le) {
      this.#started = true;
      await this.#startControllers();
      return;
    }
    this.metrics.leader.set({ name: le.name }, 0);
    this.#elector = new LeaderElector(this.client, {
      ...le,
      identity: this.identity,
      log,
      onStartedLeading: () => {
        this.metrics.leader.set({ name: le.name }, 1);
        this.#startControllers().catch((e) => log.error('controllers failed to start', { error: String(e) }));
      },
      onStoppedLeading: () => {
        this.metrics.leader.set({ name: le.name }, 0);
        (this.#o.onLostLeadership ?? (() => process.exit(1)))();
      },
    });
    this.#running = this.#elector.run();
  }

  async #startControllers(): Promise<void> {
    this.#started = true;
    await Promise.all(this.#controllers.map((c) => c.start()));
    this.#o.log.info('controllers started', { controllers: this.#controllers.length });
  }

  async stop(): Promise<void> {
    await Promise.all(this.#controllers.map((c) => c.stop()));
    await this.#elector?.stop();
    await this.#running;
    await this.#server?.close();
    this.client.close();
  }
}
