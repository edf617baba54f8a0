// The burst reader against real UDP sockets on loopback: a burst arrives whole, in order, each
// datagram in its own memory, partly read by the reader; single datagrams never trigger a read.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BurstReader, udpSocketFd } from './udp-burst.ts';

async function connectedPair(t: { after(fn: () => unknown): void }) {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  t.after(() => {
    for (const s of [rx, tx]) {
      try {
        s.close();
      } catch {
        // closed by the test already
      }
    }
  });
  rx.bind(0, '127.0.0.1');
  tx.bind(0, '127.0.0.1');
  await Promise.all([once(rx, 'listening'), once(tx, 'listening')]);
  rx.setRecvBufferSize(4 << 20);
  rx.connect(tx.address().port, '127.0.0.1');
  tx.connect(rx.address().port, '127.0.0.1');
  await Promise.all([once(rx, 'connect'), once(tx, 'connect')]);
  const fd = udpSocketFd(rx);
  assert.ok(fd !== null, 'the descriptor of a bound dgram socket is reachable');
  const reader = new BurstReader(fd);
  reader.enabled = true;
  return { rx, tx, reader };
}

/** Datagram i: 4 bytes of sequence number, then i % 251 repeated; sizes vary, one is 60,000 bytes. */
function datagram(i: number): Buffer {
  const size = i === 77 ? 60_000 : i === 5 ? 4 : 4 + ((i * 37) % 1400);
  const d = Buffer.alloc(size, i % 251);
  d.writeUInt32BE(i, 0);
  return d;
}

test('a burst arrives whole and in order, partly read by the burst reader, each datagram its own memory', async (t) => {
  const { rx, tx, reader } = await connectedPair(t);
  const got: Buffer[] = [];
  const COUNT = 300;
  const all = new Promise<void>((resolve) => {
    const take = (d: Buffer) => {
      got.push(d);
      if (got.length === COUNT) resolve();
    };
    rx.on('message', (msg: Buffer) => {
      take(msg);
      reader.afterDatagram(take);
    });
  });
  // One synchronous run: the kernel queues them all before the receiver's loop turns.
  for (let i = 0; i < COUNT; i++) tx.send(datagram(i));
  await all;
  for (let i = 0; i < COUNT; i++) assert.deepEqual(got[i], datagram(i), `datagram ${i}`);
  assert.ok(reader.drained > 0, 'some of the burst was read by the reader');
  assert.ok(reader.drained < COUNT, 'libuv delivered the first ones');
  assert.equal(reader.errors, 0);
  // Each drained datagram owns exactly its bytes: writing one changes no other.
  const drained = got.slice(-10);
  for (const d of drained) assert.equal(d.buffer.byteLength, d.length);
  drained[0].fill(0xee);
  for (let i = 1; i < drained.length; i++) assert.deepEqual(drained[i], datagram(COUNT - 10 + i));
});

test('one datagram per event-loop turn: nothing is read beyond what Node delivers', async (t) => {
  const { rx, tx, reader } = await connectedPair(t);
  let count = 0;
  rx.on('message', () => {
    count++;
    reader.afterDatagram(() => assert.fail('no burst'));
  });
  for (let i = 0; i < 5; i++) {
    tx.send(datagram(i));
    while (count <= i) await sleep(5);
  }
  assert.equal(count, 5);
  assert.equal(reader.bursts, 0, 'no read was tried');
  assert.equal(reader.drained, 0);
});

for (const [why, stop] of [
  ['a reader not enabled (its socket not connected yet)', (r: BurstReader) => (r.enabled = false)],
  ['a reader closed (its descriptor may be reused)', (r: BurstReader) => r.close()],
] as const) {
  test(`${why} touches the descriptor no more`, async (t) => {
    const { rx, tx, reader } = await connectedPair(t);
    stop(reader);
    let count = 0;
    const done = new Promise<void>((resolve) =>
      rx.on('message', () => {
        count++;
        reader.afterDatagram(() => assert.fail(why));
        if (count === 50) resolve();
      }),
    );
    for (let i = 0; i < 50; i++) tx.send(datagram(i));
    await done;
    assert.equal(reader.bursts, 0, 'no read was tried');
    assert.equal(reader.drained, 0);
  });
}

test('a read error other than EAGAIN (ICMP port unreachable) is counted, not thrown', async (t) => {
  const { rx, tx, reader } = await connectedPair(t);
  const fd = udpSocketFd(rx) as number;
  // The peer is gone: a datagram to it comes back as ICMP port unreachable, which the kernel
  // reports as ECONNREFUSED on the connected socket's next read. On loopback the ICMP is processed
  // within the sending syscall, so the reader's read comes before libuv's.
  tx.close();
  await once(tx, 'close');
  rx.on('error', () => {});
  writeSync(fd, Buffer.from('to nobody'));
  reader.afterDatagram(() => assert.fail('first of the turn: no read'));
  reader.afterDatagram(() => assert.fail('nothing to read'));
  assert.equal(reader.errors, 1, 'ECONNREFUSED counted');
  assert.equal(reader.drained, 0);
});
