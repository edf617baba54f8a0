// Bulk transfers over the simulated link: intact and in order whatever the link does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../ip/address.ts';
import { SimNetwork } from '../testing/sim-link.ts';
import { pseudoRandomBytes, pump, Sink, sha256 } from '../testing/transfer.ts';

const A = parseAddress('10.7.0.1');
const B = parseAddress('10.7.0.2');

function transfer(seed: number, link: ConstructorParameters<typeof SimNetwork>[1], size: number, extra = {}) {
  const net = new SimNetwork(seed, link, A, B, extra);
  let server: Sink | null = null;
  net.b.listen(80, (c) => {
    server = new Sink(c);
  });
  const client = net.a.connect(B, 80);
  const data = pseudoRandomBytes(size, seed);
  const clientSink = new Sink(client);
  pump(client, data);
  const ok = net.run(() => server !== null && (server as Sink).ended, 600_000);
  return { net, ok, server: server as Sink | null, client, clientSink, data };
}

describe('bulk transfer over the simulated link', () => {
  for (const [loss, size] of [
    [0, 4 * 1024 * 1024],
    [0.01, 3 * 1024 * 1024],
    [0.05, 3 * 1024 * 1024],
  ] as const) {
    it(`delivers ${size / 1024 / 1024} MB intact and in order at ${loss * 100} % loss`, () => {
      const t = transfer(42, { loss, delayMs: 5, bandwidth: 12_500, queueMs: 50 }, size);
      assert.ok(t.ok, `transfer finished (server got ${t.server?.bytes ?? 0} of ${size} bytes)`);
      assert.equal(t.server!.bytes, size);
      assert.equal(sha256(t.server!.data()), sha256(t.data));
      if (loss > 0) assert.ok(t.client.counters.retransmits > 0, 'losses were repaired by retransmission');
    });
  }
});
