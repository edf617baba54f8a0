// The runtime's connect() when the stack refuses: a rejected promise with a classified error, at
// once — not a hang until the connect timeout, not an exception out of the caller's stack.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseAddress } from './ip/address.ts';
import { NetstackRuntime } from './runtime.ts';
import { NetstackError } from './stack.ts';

const A = parseAddress('10.5.0.1');
const B = parseAddress('10.5.0.2');

it('connect() rejects with NetstackError ports-exhausted when every ephemeral port is taken', async (t) => {
  let open = true;
  let a: NetstackRuntime | null = null;
  let b: NetstackRuntime | null = null;
  a = new NetstackRuntime({
    addresses: [A],
    send: (p) => open && setImmediate(() => b!.receive(p)),
    ephemeralPortRange: [50000, 50001],
  });
  b = new NetstackRuntime({ addresses: [B], send: (p) => open && setImmediate(() => a!.receive(p)) });
  t.after(() => {
    open = false;
    a!.close();
    b!.close();
  });
  b.listen(80, () => {});
  const first = await a.connect(B, 80);
  const second = await a.connect(B, 80);
  assert.notEqual(first.conn.localPort, second.conn.localPort);
  const third = a.connect(B, 80, 30_000);
  // Settled before the next I/O turn: refused inside connect(), not left to the 30 s timeout.
  const settled = await Promise.race([
    third.then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((r) => setImmediate(() => r('pending'))),
  ]);
  assert.equal(settled, 'rejected');
  await assert.rejects(third, (e: unknown) => e instanceof NetstackError && e.code === 'ports-exhausted');
  await assert.rejects(a.connect(parseAddress('fd00::1'), 80), (e: unknown) => {
    return e instanceof NetstackError && e.code === 'no-local-address';
  });
});
