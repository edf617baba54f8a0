// The health server in-process on a free loopback port: routes, readiness from registered checks,
// sections that throw, and the admin endpoint's auth and body handling.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, before, test } from 'node:test';
import { createLogger } from '../cli/log.ts';
import { DatapathMetrics } from './metrics.ts';
import { HealthServer } from './server.ts';
import { StatusRegistry } from './status.ts';

const TOKEN = 'health-test-token-0123456789';
const status = new StatusRegistry();
const applied: string[] = [];
let server: HealthServer;
let base = '';
let port = 0;
let ready = true;

before(async () => {
  status.section('sandbox', () => ({ name: 't' }));
  status.section('broken', () => {
    throw new Error('boom');
  });
  status.readiness('part', () => ({ ready, detail: ready ? 'ok' : 'not yet' }));
  server = new HealthServer({
    status,
    metrics: new DatapathMetrics(),
    log: createLogger('error'),
    adminToken: TOKEN,
    applyConfig: (text) => {
      if (text.includes('bad')) throw new Error('bad document');
      applied.push(text);
      return { rules: 1 };
    },
  });
  const a = await server.listen('127.0.0.1', 0);
  port = a.port;
  base = `http://127.0.0.1:${port}`;
});
after(() => server.close());

test('routes: healthz, status with a failing section, metrics, 404, 405', async () => {
  assert.equal(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
  const st = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
  assert.deepEqual(st.sandbox, { name: 't' });
  assert.deepEqual(st.broken, { error: 'boom' });
  const m = await fetch(`${base}/metrics`);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  assert.match(await m.text(), /lattice_process_cpu_seconds_total/);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/status`, { method: 'DELETE' })).status, 405);
});

test('readyz follows the registered checks', async () => {
  ready = false;
  const r = await fetch(`${base}/readyz`);
  assert.equal(r.status, 503);
  assert.deepEqual(await r.json(), { ready: false, checks: { part: { ready: false, detail: 'not yet' } } });
  ready = true;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
});

test('admin: bearer token, valid and invalid documents, size and framing limits', async () => {
  const post = (body: string, auth?: string) =>
    fetch(`${base}/admin/config`, {
      method: 'POST',
      body,
      headers: auth === undefined ? {} : { authorization: auth },
    });
  assert.equal((await post('{}')).status, 401);
  assert.equal((await post('{}', `Bearer ${TOKEN}x`)).status, 401);
  assert.equal((await post('{}', `Basic ${TOKEN}`)).status, 401);
  const ok = await post('{"egress":{}}', `Bearer ${TOKEN}`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { applied: true, rules: 1 });
  assert.deepEqual(applied, ['{"egress":{}}']);
  const bad = await post('bad', `Bearer ${TOKEN}`);
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { applied: false, error: 'bad document' });
  const get = await fetch(`${base}/admin/config`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(get.status, 405);
  // a chunked body is refused (Content-Length only), an oversized one too
  const raw = (text: string) =>
    new Promise<string>((resolve) => {
      const s = createConnection(port, '127.0.0.1', () => s.write(text));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('close', () => resolve(got));
    });
  assert.match(
    await raw('POST /admin/config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'),
    /^HTTP\/1\.1 411/,
  );
  assert.match(
    await raw('POST /admin/config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n'),
    /^HTTP\/1\.1 413/,
  );
  assert.match(await raw('garbage\r\n\r\n'), /^HTTP\/1\.1 400/);
});
