// The one door to the apiserver. Authentication and TLS come from @kubernetes/client-node's
// KubeConfig (kubeconfig file or in-cluster ServiceAccount); requests go over node:https so the
// runtime controls timeouts, status codes and the watch stream itself (the generated clients
// hide the HTTP status the informer needs to tell 410 Gone from a dropped stream).
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError } from './errors.ts';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string | Date;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: unknown;
    creationTimestamp?: string | Date;
  };
  status?: unknown;
};

export type WatchEvent = {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
};

/** Observes every request: method and the result class (for API request metrics). */
export type RequestObserver = (method: string, status: number | 'error', path: string) => void;

export type RequestOptions = {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
};

export class KubeClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  #agent: http.Agent;
  readonly #secure: boolean;
  observe: RequestObserver | undefined;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.#server = new URL(cluster.server);
    const secure = this.#server.protocol === 'https:';
    this.#secure = secure;
    this.#agent = this.#newAgent();
  }

  #newAgent(): http.Agent {
    return this.#secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /**
   * A stream went silent or a request timed out: the path to the apiserver may be dead for every
   * pooled connection (a NAT or proxy that dropped them without a FIN). Start a fresh pool instead
   * of handing the next request a socket that will hang too.
   */
  #resetPool(): void {
    const old = this.#agent;
    this.#agent = this.#newAgent();
    old.destroy();
  }

  get server(): string {
    return this.#server.href;
  }

  async #options(): Promise<https.RequestOptions> {
    // Re-read per request: in-cluster tokens rotate and exec plugins refresh.
    const o: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(o);
    return o;
  }

  /** One request; parses JSON; throws ApiError for non-2xx with the apiserver's reason. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#send(method, path, opts);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    this.observe?.(method, status, path);
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (status < 200 || status >= 300) {
      const b = (body ?? {}) as { reason?: string; message?: string };
      throw new ApiError(
        method,
        path,
        status,
        b.reason ?? http.STATUS_CODES[status] ?? 'Unknown',
        b.message ?? text.slice(0, 500),
        body,
      );
    }
    return body as T;
  }

  /**
   * Streams watch events until the server ends the stream, the connection fails, nothing
   * arrives for idleMs, or signal aborts. Resolves when the stream ends; rejects on HTTP errors.
   */
  async watch(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    idleMs: number,
  ): Promise<void> {
    const res = await this.#send(
      'GET',
      path,
      { query: { ...query, watch: 1 }, timeoutMs: idleMs + 5000 },
      signal,
    );
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const text = await readAll(res);
      this.observe?.('WATCH', status, path);
      let b: { reason?: string; message?: string } = {};
      try {
        b = JSON.parse(text);
      } catch {}
      throw new ApiError('WATCH', path, status, b.reason ?? 'Unknown', b.message ?? text.slice(0, 500));
    }
    this.observe?.('WATCH', status, path);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      let idle: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          res.destroy(new Error(`watch idle for ${idleMs}ms`));
          this.#resetPool();
        }, idleMs);
      };
      const finish = (err?: Error) => {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      const onAbort = () => res.destroy();
      signal.addEventListener('abort', onAbort);
      arm();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        arm();
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) {
            try {
              onEvent(JSON.parse(line) as WatchEvent);
            } catch (e) {
              res.destroy(e as Error);
              return;
            }
          }
          nl = buf.indexOf('\n');
        }
      });
      res.on('end', () => finish());
      res.on('error', (e) => finish(e));
      res.on('close', () => finish(res.complete ? undefined : new Error('watch stream closed')));
    });
  }

  async #send(
    method: string,
    path: string,
    opts: RequestOptions,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const base = await this.#options();
    const url = new URL(path, this.#server);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {
      ...(base.headers as Record<string, string>),
      accept: 'application/json',
    };
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        {
          method,
          headers,
          agent: this.#agent,
          ca: base.ca,
          cert: base.cert,
          key: base.key,
          rejectUnauthorized: base.rejectUnauthorized,
          servername: base.servername,
          auth: base.auth,
          signal,
        },
        resolve,
      );
      // A socket inactivity limit: for a watch it must exceed the idle limit (the stream's own
      // timer decides), for everything else 30 s without a byte means the path is dead.
      req.setTimeout(opts.timeoutMs ?? 30_000, () => {
        req.destroy(new Error(`${method} ${url.pathname}: no answer within ${opts.timeoutMs ?? 30_000} ms`));
        this.#resetPool();
      });
      req.on('error', (e) => {
        this.observe?.(method, 'error', path);
        reject(e);
      });
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** Where a resource lives in the REST API. */
export type ResourceRef = { group: string; version: string; plural: string; namespaced: boolean };

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, sub?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const s = sub ? `/${sub}` : '';
  return `${base}${ns}/${r.plural}${n}${s}`;
}

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true };
export const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets', namespaced: true };
export const EVENTS: ResourceRef = {
  group: 'events.k8s.io',
  version: 'v1',
  plural: 'events',
  namespaced: true,
};
export const LEASES: ResourceRef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  namespaced: true,
};
