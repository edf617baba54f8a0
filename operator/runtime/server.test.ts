import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeMetrics } from './metrics.ts';
import { serveProbes, splitHostPort } from './server.ts';

test('/healthz, /readyz and /metrics on a loopback port; readyz follows its check', async () => {
  const m = new RuntimeMetrics();
  m.reconcileTotal.inc({ controller: 'x', result: 'success' });
  let ready = false;
  const s = await serveProbes('127.0.0.1:0', m.registry, {
    healthz: () => ({ ok: true }),
    readyz: () => (ready ? { ok: true } : { ok: false, detail: 'caches not synced' }),
  });
  try {
    const get = (p: string) => fetch(`http://127.0.0.1:${s.port}${p}`);
    assert.equal((await get('/healthz')).status, 200);
    const r = await get('/readyz');
    assert.equal(r.status, 503);
    assert.match(await r.text(), /caches not synced/);
    ready = true;
    assert.equal((await get('/readyz')).status, 200);
    const metrics = await (await get('/metrics')).text();
    assert.match(metrics, /controller_runtime_reconcile_total\{controller="x",result="success"\} 1/);
    assert.equal((await get('/nope')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/healthz`, { method: 'POST' })).status, 405);
  } finally {
    await s.close();
  }
});

test('addresses: host:port, :port means all interfaces, bad ports are refused', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:8081'), { host: '127.0.0.1', port: 8081 });
  assert.deepEqual(splitHostPort(':8081'), { host: '0.0.0.0', port: 8081 });
  assert.deepEqual(splitHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => splitHostPort('8081'));
  assert.throws(() => splitHostPort('x:99999'));
});
