import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { PortTakenError } from './errors.ts';
import { assertPortFree, freePorts, portBound } from './ports.ts';

test('freePorts returns distinct ports that can be bound', async () => {
  const ports = await freePorts(6);
  assert.equal(new Set(ports).size, 6);
  for (const p of ports) await assertPortFree('x', '--port', p);
});

test('a taken port is reported with the component and flag that wanted it', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  assert.equal(await portBound(port), true);
  await assert.rejects(assertPortFree('kube-apiserver', '--secure-port', port), (err: unknown) => {
    assert.ok(err instanceof PortTakenError);
    assert.equal(
      err.message,
      `port 127.0.0.1:${port} (kube-apiserver --secure-port) is already in use by another process`,
    );
    return true;
  });
});
