// The control plane's HTTP API. Routing, body limits, JSON errors and metrics live here; each route
// hands validated input to a use case. Status codes are real: 400 bad input, 401 bad credential,
// 404 unknown sandbox or path, 405 wrong method, 409 token already used, 410 token expired, 413 body
// too large, 415 not JSON, 503 dependency down, 500 only for bugs (message not shown).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, type Registry } from 'prom-client';
import { ApiError, badRequest, errorBody, notFound, tooLarge } from './errors.ts';
import type { Logger } from './log.ts';
import { redactToken } from './token.ts';

export const MAX_BODY_BYTES = 16 * 1024;

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** Returns the JSON body of a 200, or a raw text body for non-JSON routes. */
  handle: (ctx: RequestContext) => Promise<unknown>;
}

export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  body: unknown;
  remote: string;
}

export class RawText {
  readonly contentType: string;
  readonly text: string;
  constructor(contentType: string, text: string) {
    this.contentType = contentType;
    this.text = text;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge(`request body is larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw tooLarge(`request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function startHttpServer(
  routes: Route[],
  opts: { host: string; port: number; log: Logger; registry: Registry },
): Promise<{ server: Server; url: string }> {
  const requests = new Counter({
    name: 'lattice_controlplane_requests_total',
    help: 'Control-plane API requests by route and status code.',
    labelNames: ['route', 'code'],
    registers: [opts.registry],
  });
  const duration = new Histogram({
    name: 'lattice_controlplane_request_duration_seconds',
    help: 'Control-plane API request duration by route.',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [opts.registry],
  });

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    let routeName = 'unknown';
    let body: unknown;
    const send = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
      const isRaw = payload instanceof RawText;
      const text = isRaw ? payload.text : `${JSON.stringify(payload)}\n`;
      res.writeHead(status, {
        'content-type': isRaw ? payload.contentType : 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...extra,
      });
      res.end(text);
      requests.inc({ route: routeName, code: String(status) });
      duration.observe({ route: routeName }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://control-plane');
      const forPath = routes.filter((r) => r.path === url.pathname);
      if (forPath.length === 0)
        throw notFound('not_found', `no such endpoint: ${url.pathname.slice(0, 200)}`);
      routeName = url.pathname;
      const route = forPath.find((r) => r.method === req.method);
      if (!route) {
        const allow = forPath.map((r) => r.method).join(', ');
        send(
          405,
          errorBody(
            new ApiError(405, 'method_not_allowed', `${req.method} is not allowed here; use ${allow}`),
          ),
          { allow },
        );
        req.resume();
        return;
      }
      if (route.method === 'POST') {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase();
        if (type !== 'application/json') {
          req.resume();
          throw new ApiError(
            415,
            'unsupported_media_type',
            'send the body as Content-Type: application/json',
          );
        }
        const raw = await readBody(req);
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
        } catch {
          throw badRequest('invalid_json', 'request body is not valid JSON');
        }
      } else {
        req.resume();
      }
      send(200, await route.handle({ req, url, body, remote }));
    } catch (err) {
      if (err instanceof ApiError) {
        // Misuse is worth a log line (who, which sandbox, why) — never the token itself.
        const b = (body ?? {}) as { namespace?: unknown; name?: unknown; token?: unknown };
        opts.log(err.status >= 500 ? 'error' : 'warn', 'request refused', {
          route: routeName,
          status: err.status,
          code: err.code,
          reason: err.message,
          remote,
          namespace: typeof b.namespace === 'string' ? b.namespace.slice(0, 64) : undefined,
          name: typeof b.name === 'string' ? b.name.slice(0, 253) : undefined,
          token: b.token === undefined ? undefined : redactToken(b.token),
        });
        if (err.status === 413) res.setHeader('connection', 'close');
        send(err.status, errorBody(err));
      } else {
        opts.log('error', 'request failed', {
          route: routeName,
          remote,
          error: err instanceof Error ? err.stack : String(err),
        });
        send(500, errorBody(new ApiError(500, 'internal', 'internal error; see the control-plane log')));
      }
    }
  });
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({ server, url: `http://${host}:${a.port}` });
    });
  });
}
