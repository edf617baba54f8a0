import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { portInUseFromLog, probe, waitHealthy } from './health.ts';

test('a Go "address already in use" log line names the port', () => {
  const log =
    'E1128 run.go:72] "command failed" err="listen tcp 127.0.0.1:4321: bind: address already in use"';
  assert.equal(portInUseFromLog(log, [1234, 4321]), 4321);
  assert.equal(portInUseFromLog('all fine on 127.0.0.1:4321', [4321]), undefined);
});

test('a probe is healthy only on 200 with the expected body', async (t) => {
  let body = 'not yet';
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/readyz`;
  const check = { what: 'readyz', url, expect: 'ok' };
  const r = await probe(check);
  assert.deepEqual(r, { ok: false, error: 'HTTP 200: not yet' });
  body = 'ok';
  assert.deepEqual(await probe(check), { ok: true });
});

test('waiting stops at once when the component exits', async () => {
  const check = { what: 'readyz', url: 'http://127.0.0.1:1/readyz', expect: 'ok' };
  const r = await waitHealthy(check, 60_000, () => 'exit code 1');
  assert.deepEqual(r, { ok: false, reason: 'exited', error: 'exit code 1' });
});
