// The Kopf-like face of the runtime. A reconciler registers a handler for a kind; the runtime
// watches it (and the children it owns), de-duplicates events into a work queue, runs N
// workers, and around every handler call does what reconcilers always get wrong by hand:
// - finalizers: added before the first reconcile, `finalize` called once when the object is
//   being deleted, then removed so garbage collection takes the children;
// - status: the handler returns the status it wants; it is written with server-side apply to
//   the status subresource only when it differs from what is stored (what this process last
//   wrote, while the cache does not show that write yet);
// - retries: errors are classified (errors.ts): temporary → per-key backoff, conflict →
//   quiet requeue, permanent → Warning Event and wait for the next change; a handler that
//   throws never takes the process down;
// - requeues: `requeueAfterMs` for periodic work (status polling).
import { isDeepStrictEqual } from 'node:util';
import { applyStatus, FIELD_MANAGER } from './apply.ts';
import { classify, errorMessage, isNotFound, TemporaryError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { Expectations } from './expectations.ts';
import { Informer } from './informer.ts';
import { type KubeClient, type KubeObject, type ResourceRef, resourcePath } from './kube.ts';
import type { Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { keyOf } from './store.ts';
import { WorkQueue } from './workqueue.ts';

export type Kind = ResourceRef & { apiVersion: string; kind: string };

export type Context = {
  key: string;
  log: Logger;
  client: KubeClient;
  events: EventRecorder;
  /** The cache of an owned kind, keyed namespace/name. */
  cache(plural: string): ReadonlyMap<string, KubeObject>;
};

export type Outcome<S> = { status?: S; requeueAfterMs?: number };

export type Handler<T extends KubeObject, S> = {
  /** Controller name in metrics and Events. */
  name: string;
  kind: Kind;
  finalizer?: string;
  /** Children watched so that their changes re-run the owner; ownerKey maps a child to its owner's key. */
  owns?: { ref: ResourceRef; labelSelector: string; ownerKey(child: KubeObject): string | undefined }[];
  reconcile(o: T, ctx: Context): Promise<Outcome<S>>;
  finalize?(o: T, ctx: Context): Promise<void>;
  workers?: number;
  resyncMs?: number;
};

export type ControllerDeps = {
  client: KubeClient;
  log: Logger;
  metrics: RuntimeMetrics;
  events: EventRecorder;
  namespace?: string;
  /** Watch tuning (tests shorten these): server-side timeout and the client's idle limit. */
  watch?: { timeoutSeconds?: number; idleMs?: number };
};

export class Controller<T extends KubeObject, S> {
  readonly queue: WorkQueue;
  readonly #h: Handler<T, S>;
  readonly #d: ControllerDeps;
  readonly #primary: Informer;
  readonly #children = new Map<string, Informer>();
  readonly #finalized = new Set<string>();
  // Status written and not yet seen in the cache. A pass on a stale cache (one our own finalizer
  // write queues) reconciles from it instead of the older status: the handler then computes the
  // same status from the same inputs and nothing is written twice.
  readonly #written = new Expectations<{ uid: string; status: unknown }>();
  #workers: Promise<void>[] = [];

  constructor(h: Handler<T, S>, d: ControllerDeps) {
    this.#h = h;
    this.#d = d;
    this.queue = new WorkQueue({ metrics: d.metrics.queueMetrics(h.name) });
    const restart = (resource: string) => (reason: string) =>
      d.metrics.watchRestarts.inc({ resource, reason });
    this.#primary = new Informer(d.client, h.kind, {
      namespace: d.namespace,
      resyncMs: h.resyncMs ?? 5 * 60_000,
      watchTimeoutSeconds: d.watch?.timeoutSeconds,
      idleMs: d.watch?.idleMs,
      log: d.log,
      onRestart: restart(h.kind.plural),
    });
    this.#primary.addHandlers({
      onAdd: (o) => this.queue.add(keyOf(o)),
      onUpdate: (old, cur) => {
        if (needsReconcile(old, cur)) this.queue.add(keyOf(cur));
      },
      onDelete: (o) => this.queue.add(keyOf(o)),
      onResync: (o) => this.queue.add(keyOf(o)),
    });
    for (const own of h.owns ?? []) {
      const inf = new Informer(d.client, own.ref, {
        namespace: d.namespace,
        labelSelector: own.labelSelector,
        watchTimeoutSeconds: d.watch?.timeoutSeconds,
        idleMs: d.watch?.idleMs,
        log: d.log,
        onRestart: restart(own.ref.plural),
      });
      const enqueue = (o: KubeObject) => {
        const k = own.ownerKey(o);
        if (k) this.queue.add(k);
      };
      inf.addHandlers({ onAdd: enqueue, onUpdate: (_o, c) => enqueue(c), onDelete: enqueue });
      this.#children.set(own.ref.plural, inf);
    }
  }

  get synced(): boolean {
    return this.#primary.hasSynced && [...this.#children.values()].every((i) => i.hasSynced);
  }

  async start(): Promise<void> {
    for (const i of this.#children.values()) i.start();
    this.#primary.start();
    // Children first: a reconcile must see existing Pods, or it would create duplicates.
    await Promise.all([...this.#children.values()].map((i) => i.waitForSync()));
    await this.#primary.waitForSync();
    const n = this.#h.workers ?? 4;
    this.#d.metrics.maxConcurrent.set({ controller: this.#h.name }, n);
    this.#workers = Array.from({ length: n }, () => this.#worker());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all([this.#primary.stop(), ...[...this.#children.values()].map((i) => i.stop())]);
    await Promise.all(this.#workers);
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const { name } = this.#h;
      this.#d.metrics.activeWorkers.inc({ controller: name });
      const end = this.#d.metrics.reconcileTime.startTimer({ controller: name });
      let result = 'success';
      try {
        const requeue = await this.#process(key);
        this.queue.forget(key);
        if (requeue !== undefined) {
          result = 'requeue_after';
          this.queue.addAfter(key, requeue);
        }
      } catch (e) {
        result = this.#failed(key, e);
      } finally {
        end();
        this.#d.metrics.activeWorkers.dec({ controller: name });
        this.#d.metrics.reconcileTotal.inc({ controller: name, result });
        this.queue.done(key);
      }
    }
  }

  #failed(key: string, e: unknown): string {
    const log = this.#d.log.child({ controller: this.#h.name, key });
    const cls = classify(e);
    const o = this.#primary.get(key);
    if (cls === 'conflict') {
      log.debug('conflict, requeueing', { error: errorMessage(e) });
      this.queue.addRateLimited(key);
      return 'requeue';
    }
    this.#d.metrics.reconcileErrors.inc({ controller: this.#h.name });
    if (
      !(e instanceof Error) ||
      (e.name !== 'TemporaryError' && e.name !== 'PermanentError' && e.name !== 'ApiError')
    ) {
      this.#d.metrics.reconcilePanics.inc({ controller: this.#h.name });
    }
    if (o)
      void this.#d.events.record(
        o,
        'Warning',
        cls === 'permanent' ? 'ReconcileFailed' : 'ReconcileError',
        errorMessage(e),
      );
    if (cls === 'permanent') {
      log.error('reconcile failed permanently; waiting for the object to change', { error: errorMessage(e) });
      this.queue.forget(key);
      return 'error';
    }
    const ms = e instanceof TemporaryError && e.delayMs !== undefined ? e.delayMs : undefined;
    if (ms !== undefined) this.queue.addAfter(key, ms);
    const wait = ms ?? this.queue.addRateLimited(key);
    log.warn('reconcile failed, retrying', { error: errorMessage(e), retryMs: wait });
    return 'error';
  }

  /** One pass for one key; returns a requeue delay if the handler asked for one. */
  async #process(key: string): Promise<number | undefined> {
    const h = this.#h;
    let o = this.#primary.get(key) as T | undefined;
    if (!o) return undefined;
    const uid = o.metadata.uid ?? '';
    const ctx: Context = {
      key,
      log: this.#d.log.child({ controller: h.name, key }),
      client: this.#d.client,
      events: this.#d.events,
      cache: (plural) => this.#children.get(plural)?.store ?? new Map(),
    };
    const fin = h.finalizer;
    const hasFinalizer = fin !== undefined && (o.metadata.finalizers ?? []).includes(fin);
    if (o.metadata.deletionTimestamp) {
      if (!fin || !hasFinalizer) return undefined;
      // The cache can still show our finalizer after we removed it; never finalize twice.
      if (!this.#finalized.has(uid)) {
        await h.finalize?.(o, ctx);
        this.#finalized.add(uid);
      }
      await this.#setFinalizers(
        o,
        (o.metadata.finalizers ?? []).filter((f) => f !== fin),
      );
      ctx.log.info('finalized');
      return undefined;
    }
    const cached = o.status;
    const written = this.#written.get(
      key,
      (w) => w.uid !== uid || isDeepStrictEqual(w.status, normalize(cached)),
    );
    if (written) o = { ...o, status: written.value.status };
    if (fin && !hasFinalizer) {
      // The answer is the stored object: newer than the cache, and than what we wrote.
      o = await this.#setFinalizers(o, [...(o.metadata.finalizers ?? []), fin]);
    }
    const out = await h.reconcile(o, ctx);
    if (out.status !== undefined && !isDeepStrictEqual(normalize(o.status), normalize(out.status))) {
      await applyStatus(this.#d.client, h.kind, {
        apiVersion: h.kind.apiVersion,
        kind: h.kind.kind,
        metadata: { name: o.metadata.name!, namespace: o.metadata.namespace },
        status: out.status,
      });
      this.#written.set(key, { uid, status: normalize(out.status) });
    }
    return out.requeueAfterMs;
  }

  /** Writes metadata.finalizers with the resourceVersion as precondition (a conflict requeues). */
  async #setFinalizers(o: T, finalizers: string[]): Promise<T> {
    const path = resourcePath(this.#h.kind, o.metadata.namespace, o.metadata.name);
    try {
      return await this.#d.client.request<T>('PATCH', path, {
        query: { fieldManager: FIELD_MANAGER },
        body: { metadata: { finalizers, resourceVersion: o.metadata.resourceVersion } },
        contentType: 'application/merge-patch+json',
      });
    } catch (e) {
      if (isNotFound(e)) return o;
      throw e;
    }
  }
}

/** Spec changes, deletion and finalizer changes need a reconcile; our own status writes do not. */
export function needsReconcile(old: KubeObject, cur: KubeObject): boolean {
  return (
    old.metadata.generation !== cur.metadata.generation ||
    Boolean(old.metadata.deletionTimestamp) !== Boolean(cur.metadata.deletionTimestamp) ||
    !isDeepStrictEqual(old.metadata.finalizers, cur.metadata.finalizers) ||
    !isDeepStrictEqual(old.metadata.labels, cur.metadata.labels)
  );
}

/** JSON round trip: drops undefined fields so {a: undefined} equals {}. */
export function normalize(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}
