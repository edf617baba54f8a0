import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { UdpRelay } from './relay.ts';

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

test('the relay forwards both ways and drops about the configured share', async (t) => {
  const a = await bound();
  const b = await bound();
  const relay = await UdpRelay.start({
    listenAddress: '127.0.0.1',
    a: { address: '127.0.0.1', port: a.address().port },
    b: { address: '127.0.0.1', port: b.address().port },
    loss: 0.2,
    seed: 7,
  });
  t.after(async () => {
    a.close();
    b.close();
    await relay.close();
  });
  let atB = 0;
  let atA = 0;
  b.on('message', () => atB++);
  a.on('message', () => atA++);
  for (let i = 0; i < 500; i++) a.send(Buffer.from([i & 0xff]), relay.port, '127.0.0.1');
  b.send(Buffer.from('x'), relay.port, '127.0.0.1');
  for (let i = 0; i < 500; i++) b.send(Buffer.from([i & 0xff]), relay.port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(atB > 300 && atB < 480, `about 80 % of 500 reached B (${atB})`);
  assert.ok(atA > 300 && atA < 480, `about 80 % of 501 reached A (${atA})`);
  assert.equal(relay.stats.dropped + relay.stats.forwarded, 1001);
});
