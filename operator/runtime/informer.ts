// List + watch for one resource, kept true through every way a watch can fail:
// - the stream ends (server timeout, apiserver restart, a proxy cutting it): watch again from
//   the last resourceVersion seen (events and bookmarks advance it);
// - 410 Gone (as an HTTP status or an ERROR event): the resourceVersion is too old — relist
//   and report what changed meanwhile, including deletions (diffRelist);
// - no bytes for idleMs (default 90 s; the apiserver sends a bookmark about every minute on a
//   quiet watch): the connection is half-dead — drop it, reset the connection pool, watch again;
// - any other error: back off exponentially, then resume.
// Every resyncMs all cached objects are handed to onResync so level-triggered reconcilers
// recheck the world even when no event came.
import { delayFor } from './backoff.ts';
import { ApiError, errorMessage, isGone } from './errors.ts';
import { type KubeClient, type KubeObject, type ResourceRef, resourcePath, type WatchEvent } from './kube.ts';
import type { Logger } from './log.ts';
import { diffRelist, keyOf } from './store.ts';

export type InformerHandlers = {
  onAdd?(o: KubeObject): void;
  onUpdate?(old: KubeObject, cur: KubeObject): void;
  onDelete?(o: KubeObject): void;
  onResync?(o: KubeObject): void;
};

export type InformerOptions = {
  namespace?: string;
  labelSelector?: string;
  resyncMs?: number;
  watchTimeoutSeconds?: number;
  idleMs?: number;
  log: Logger;
  onRestart?(reason: 'relist' | 'rewatch' | 'error'): void;
};

export class Informer {
  readonly store = new Map<string, KubeObject>();
  readonly #client: KubeClient;
  readonly #ref: ResourceRef;
  readonly #opts: InformerOptions;
  readonly #handlers: InformerHandlers[] = [];
  readonly #abort = new AbortController();
  #rv = '';
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #loop: Promise<void> | undefined;
  #resync: NodeJS.Timeout | undefined;
  #watchAbort: AbortController | undefined;
  #resumeFrom: string | undefined;

  constructor(client: KubeClient, ref: ResourceRef, opts: InformerOptions) {
    this.#client = client;
    this.#ref = ref;
    this.#opts = opts;
  }

  addHandlers(h: InformerHandlers): void {
    this.#handlers.push(h);
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  get resourceVersion(): string {
    return this.#rv;
  }

  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((r) => this.#syncWaiters.push(r));
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
    const every = this.#opts.resyncMs ?? 0;
    if (every > 0) {
      this.#resync = setInterval(() => {
        for (const o of this.store.values()) this.#emit((h) => h.onResync?.(o));
      }, every);
      this.#resync.unref();
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#resync);
    await this.#loop;
  }

  /**
   * Drops the current watch and resumes from `rv` — what happens after a process restart that
   * persisted its position. Tests use it with a long-gone version to force a real 410 Gone.
   */
  restartWatchFrom(rv: string): void {
    this.#resumeFrom = rv;
    this.#watchAbort?.abort();
  }

  get(key: string): KubeObject | undefined {
    return this.store.get(key);
  }

  async #run(): Promise<void> {
    let needList = true;
    let failures = 0;
    const path = resourcePath(this.#ref, this.#opts.namespace);
    const log = this.#opts.log;
    while (!this.#abort.signal.aborted) {
      try {
        if (needList) {
          await this.#list(path);
          needList = false;
        }
        if (this.#resumeFrom !== undefined) {
          this.#rv = this.#resumeFrom;
          this.#resumeFrom = undefined;
        }
        const timeout = this.#opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
        this.#watchAbort = new AbortController();
        const onStop = () => this.#watchAbort?.abort();
        this.#abort.signal.addEventListener('abort', onStop, { once: true });
        await this.#client
          .watch(
            path,
            {
              resourceVersion: this.#rv,
              allowWatchBookmarks: true,
              timeoutSeconds: timeout,
              labelSelector: this.#opts.labelSelector,
            },
            (e) => this.#onEvent(e),
            this.#watchAbort.signal,
            this.#opts.idleMs ?? 90_000,
          )
          .finally(() => this.#abort.signal.removeEventListener('abort', onStop));
        failures = 0;
        this.#opts.onRestart?.('rewatch');
      } catch (e) {
        if (this.#abort.signal.aborted) break;
        if (isGone(e)) {
          log.info('watch expired (410 Gone), relisting', { resource: this.#ref.plural });
          needList = true;
          this.#opts.onRestart?.('relist');
          continue;
        }
        failures++;
        const ms = delayFor(failures, { baseMs: 200, maxMs: 30_000 });
        log.warn('watch failed, retrying', {
          resource: this.#ref.plural,
          error: errorMessage(e),
          retryMs: ms,
        });
        this.#opts.onRestart?.('error');
        // After several consecutive failures relist: the apiserver may have lost our resourceVersion.
        if (failures >= 3) needList = true;
        await sleep(ms, this.#abort.signal);
      }
    }
  }

  async #list(path: string): Promise<void> {
    const list = await this.#client.request<{ metadata: { resourceVersion: string }; items: KubeObject[] }>(
      'GET',
      path,
      {
        query: { labelSelector: this.#opts.labelSelector },
        timeoutMs: 60_000,
      },
    );
    const kind = this.#ref.plural;
    for (const item of list.items) {
      // Lists omit apiVersion/kind on items; handlers want whole objects.
      item.kind ??= kindFromList(list as { kind?: string }, kind);
    }
    const diff = diffRelist(this.store, list.items);
    this.#rv = list.metadata.resourceVersion;
    for (const o of diff.added) this.store.set(keyOf(o), o);
    for (const { cur } of diff.updated) this.store.set(keyOf(cur), cur);
    for (const o of diff.deleted) this.store.delete(keyOf(o));
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
    for (const o of diff.added) this.#emit((h) => h.onAdd?.(o));
    for (const { old, cur } of diff.updated) this.#emit((h) => h.onUpdate?.(old, cur));
    for (const o of diff.deleted) this.#emit((h) => h.onDelete?.(o));
  }

  #onEvent(e: WatchEvent): void {
    if (e.type === 'ERROR') {
      const s = e.object as unknown as { code?: number; reason?: string; message?: string };
      throw new ApiError(
        'WATCH',
        this.#ref.plural,
        s.code ?? 500,
        s.reason ?? 'Unknown',
        s.message ?? 'watch error',
      );
    }
    const o = e.object;
    if (o.metadata?.resourceVersion) this.#rv = o.metadata.resourceVersion;
    if (e.type === 'BOOKMARK') return;
    const k = keyOf(o);
    if (e.type === 'DELETED') {
      const old = this.store.get(k) ?? o;
      this.store.delete(k);
      this.#emit((h) => h.onDelete?.(old));
      return;
    }
    const old = this.store.get(k);
    this.store.set(k, o);
    if (old) this.#emit((h) => h.onUpdate?.(old, o));
    else this.#emit((h) => h.onAdd?.(o));
  }

  #emit(fn: (h: InformerHandlers) => void): void {
    for (const h of this.#handlers) {
      try {
        fn(h);
      } catch (e) {
        this.#opts.log.error('informer handler threw', {
          resource: this.#ref.plural,
          error: errorMessage(e),
        });
      }
    }
  }
}

function kindFromList(list: { kind?: string }, fallback: string): string {
  return list.kind?.endsWith('List') ? list.kind.slice(0, -4) : fallback;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}
