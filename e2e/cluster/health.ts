// Health probes: one HTTP(S) GET with a short timeout, and a wait loop that also notices a
// component that died, so a failed start says which component and why.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HealthCheck } from './config.ts';

export type ProbeResult = { ok: true } | { ok: false; error: string };

export function probe(check: HealthCheck, timeoutMs = 2_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const url = new URL(check.url);
    const tls = url.protocol === 'https:';
    const options = {
      method: 'GET',
      timeout: timeoutMs,
      ...(tls
        ? {
            ca: check.ca ? readFileSync(check.ca) : undefined,
            cert: check.cert ? readFileSync(check.cert) : undefined,
            key: check.key ? readFileSync(check.key) : undefined,
            rejectUnauthorized: !check.insecure,
          }
        : {}),
    };
    const req = (tls ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        if (res.statusCode === 200 && body.includes(check.expect)) resolve({ ok: true });
        else resolve({ ok: false, error: `HTTP ${res.statusCode}: ${body.slice(0, 300).trim()}` });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, error: err.message }));
    req.end();
  });
}

export type WaitOutcome = { ok: true } | { ok: false; reason: 'timeout' | 'exited'; error: string };

/** Polls until healthy, until exited() says the process is gone, or until timeoutMs. */
export async function waitHealthy(
  check: HealthCheck,
  timeoutMs: number,
  exited: () => string | undefined,
): Promise<WaitOutcome> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not probed yet';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const how = exited();
    if (how !== undefined) return { ok: false, reason: 'exited', error: how };
    const r = await probe(check);
    if (r.ok) return r;
    last = r.error;
    if (Date.now() > deadline) return { ok: false, reason: 'timeout', error: last };
    await new Promise((res) => setTimeout(res, delay));
  }
}

export function logTail(file: string, lines = 25): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** "bind: address already in use" in a Go server's log → the port it could not take. */
export function portInUseFromLog(log: string, ports: number[]): number | undefined {
  if (!/address already in use/i.test(log)) return undefined;
  return ports.find((p) => log.includes(`:${p}`));
}
