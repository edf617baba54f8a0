// The health port: /healthz (alive), /readyz (every readiness check passes), /status (JSON, see
// docs/status.md), /metrics (Prometheus), and POST /admin/config (a new settings document, with
// `Authorization: Bearer <token>`; off when no token is configured).
//
// A deliberately small HTTP/1.1 server over node:net (one request per connection, Content-Length
// bodies only), reusing the proxy's request-head parser: node:http costs ~14 MiB of RSS, a fifth
// of the datapath's memory budget, for features probes and scrapers do not need.

import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../cli/log.ts';
import { type HttpHead, header, isHttpError, parseHttpHead } from '../proxy/http.ts';
import type { DatapathMetrics } from './metrics.ts';
import type { StatusRegistry } from './status.ts';

/** Applies a pushed settings document; throws (ConfigError) when it is invalid. Returns a summary. */
export type ConfigApplier = (text: string, source: string) => Record<string, unknown>;

export interface HealthServerOptions {
  readonly status: StatusRegistry;
  readonly metrics: DatapathMetrics;
  readonly log: Logger;
  /** null: the admin endpoint answers 404 */
  readonly adminToken: string | null;
  readonly applyConfig: ConfigApplier;
}

const MAX_ADMIN_BODY = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  411: 'Length Required',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface Response {
  status: number;
  body: string;
  type?: string;
  headers?: Record<string, string>;
}

function tokenMatches(value: string | null, token: string): boolean {
  if (value === null || !value.startsWith('Bearer ')) return false;
  const a = Buffer.from(value.slice(7).trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const text = (status: number, body: string): Response => ({ status, body });
const json = (status: number, v: unknown): Response => ({
  status,
  body: `${JSON.stringify(v, null, 2)}\n`,
  type: 'application/json',
});

export class HealthServer {
  private readonly server: Server;
  private readonly o: HealthServerOptions;
  private readonly sockets = new Set<Socket>();

  constructor(o: HealthServerOptions) {
    this.o = o;
    this.server = createServer((s) => this.onConnection(s));
    this.server.on('error', (e) => o.log.error('health listener error', { error: e.message }));
  }

  private onConnection(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    s.setTimeout(REQUEST_TIMEOUT_MS, () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let head: HttpHead | null = null;
    let need = 0;
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (head === null) {
        const r = parseHttpHead(buf);
        if (r === null) return;
        if (isHttpError(r)) return this.respond(s, 'GET', text(r.status, `${r.why}\n`));
        head = r;
        buf = r.rest;
        const len = header(r, 'content-length');
        if (header(r, 'transfer-encoding') !== null)
          return this.respond(s, r.method, text(411, 'send a Content-Length body\n'));
        need = len === null ? 0 : /^[0-9]{1,9}$/.test(len) ? Number(len) : -1;
        if (need < 0 || need > MAX_ADMIN_BODY)
          return this.respond(s, r.method, text(413, 'body too large\n'));
      }
      if (buf.length < need) return;
      s.removeListener('data', onData);
      const h = head;
      this.handle(h, buf.subarray(0, need).toString('utf8'), s.remoteAddress ?? '?').then(
        (res) => this.respond(s, h.method, res),
        (e) => {
          this.o.log.error('health request failed', { error: e instanceof Error ? e.message : String(e) });
          this.respond(s, h.method, text(500, 'internal error\n'));
        },
      );
    };
    s.on('data', onData);
  }

  private respond(s: Socket, method: string, r: Response): void {
    if (s.destroyed) return;
    const body = Buffer.from(r.body);
    const extra = Object.entries(r.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const headText =
      `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Status'}\r\n` +
      `Content-Type: ${r.type ?? 'text/plain; charset=utf-8'}\r\nContent-Length: ${body.length}\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\n${extra}\r\n`;
    s.end(method === 'HEAD' ? Buffer.from(headText) : Buffer.concat([Buffer.from(headText), body]));
  }

  private async handle(h: HttpHead, body: string, remote: string): Promise<Response> {
    const path = h.target.split('?')[0];
    if (path === '/admin/config') return this.admin(h, body, remote);
    if (h.method !== 'GET' && h.method !== 'HEAD') return text(405, 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return text(200, 'ok\n');
      case '/readyz': {
        const r = this.o.status.ready();
        return json(r.ready ? 200 : 503, r);
      }
      case '/status':
        return json(200, this.o.status.snapshot());
      case '/metrics':
        return {
          status: 200,
          body: await this.o.metrics.registry.metrics(),
          type: this.o.metrics.registry.contentType,
        };
      default:
        return text(404, 'not found\n');
    }
  }

  private admin(h: HttpHead, body: string, remote: string): Response {
    if (this.o.adminToken === null) return text(404, 'admin endpoint disabled (no admin token configured)\n');
    if (!tokenMatches(header(h, 'authorization'), this.o.adminToken)) {
      this.o.log.warn('admin request rejected', { remote });
      return { status: 401, body: 'unauthorized\n', headers: { 'WWW-Authenticate': 'Bearer' } };
    }
    if (h.method !== 'POST' && h.method !== 'PUT') return text(405, 'use POST\n');
    try {
      const summary = this.o.applyConfig(body, 'admin endpoint');
      return json(200, { applied: true, ...summary });
    } catch (e) {
      return json(400, { applied: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  listen(host: string, port: number): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', reject);
        const a = this.server.address();
        if (a === null || typeof a === 'string') reject(new Error('health listener has no address'));
        else resolve({ address: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}
