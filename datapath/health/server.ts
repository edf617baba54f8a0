// The health port: /healthz (alive), /readyz (every readiness check passes), /status (JSON, see
// docs/status.md), /metrics (Prometheus), and POST /admin/config (a new settings document, with
// `Authorization: Bearer <token>`; off when no token is configured).

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../cli/log.ts';
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

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, v: unknown): void {
  send(res, status, `${JSON.stringify(v, null, 2)}\n`, 'application/json');
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7).trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class HealthServer {
  private readonly server: Server;
  private readonly o: HealthServerOptions;

  constructor(o: HealthServerOptions) {
    this.o = o;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        o.log.error('health request failed', { error: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/admin/config') return this.admin(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return send(res, 200, 'ok\n');
      case '/readyz': {
        const r = this.o.status.ready();
        return json(res, r.ready ? 200 : 503, r);
      }
      case '/status':
        return json(res, 200, this.o.status.snapshot());
      case '/metrics':
        return send(res, 200, await this.o.metrics.registry.metrics(), this.o.metrics.registry.contentType);
      default:
        return send(res, 404, 'not found\n');
    }
  }

  private async admin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.o.adminToken === null)
      return send(res, 404, 'admin endpoint disabled (no admin token configured)\n');
    if (!tokenMatches(req.headers.authorization, this.o.adminToken)) {
      this.o.log.warn('admin request rejected', { remote: req.socket.remoteAddress });
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, 'unauthorized\n');
    }
    if (req.method !== 'POST' && req.method !== 'PUT') return send(res, 405, 'use POST\n');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_ADMIN_BODY) return send(res, 413, 'document too large\n');
      chunks.push(c as Buffer);
    }
    try {
      const summary = this.o.applyConfig(Buffer.concat(chunks).toString('utf8'), 'admin endpoint');
      return json(res, 200, { applied: true, ...summary });
    } catch (e) {
      return json(res, 400, { applied: false, error: e instanceof Error ? e.message : String(e) });
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
      this.server.closeAllConnections();
    });
  }
}
