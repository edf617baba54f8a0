// /healthz (the process serves), /readyz (caches synced; a standby that is not leader is still
// ready — it is healthy and waiting), /metrics (Prometheus text). Listens on loopback unless told.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Probe = () => { ok: boolean; detail?: string };

export async function serveProbes(
  addr: string,
  registry: Registry,
  checks: { healthz: Probe; readyz: Probe },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    try {
      if (req.method !== 'GET') return answer(405, 'text/plain', 'method not allowed\n');
      if (path === '/metrics') return answer(200, registry.contentType, await registry.metrics());
      if (path === '/healthz' || path === '/readyz') {
        const r = (path === '/healthz' ? checks.healthz : checks.readyz)();
        return answer(
          r.ok ? 200 : 503,
          'text/plain',
          `${r.ok ? 'ok' : 'not ok'}${r.detail ? `: ${r.detail}` : ''}\n`,
        );
      }
      answer(404, 'text/plain', 'not found\n');
    } catch (e) {
      answer(500, 'text/plain', `${e instanceof Error ? e.message : String(e)}\n`);
    }
  });
  const { host, port } = splitHostPort(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** "127.0.0.1:8081", ":8081" (all interfaces), "[::1]:0". */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new Error(`address ${JSON.stringify(addr)} must be HOST:PORT`);
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`address ${JSON.stringify(addr)}: bad port`);
  return { host, port };
}
