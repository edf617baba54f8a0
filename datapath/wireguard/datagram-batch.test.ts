import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BATCH_BYTES, DatagramBatchWriter, forEachDatagram } from './datagram-batch.ts';

test('a batch gives back every datagram with its address and port, in order', () => {
  const w = new DatagramBatchWriter();
  const sent = [
    { data: Buffer.from('first'), address: '10.0.0.1', port: 51820 },
    { data: Buffer.alloc(0), address: '::ffff:192.0.2.7', port: 1 },
    { data: Buffer.alloc(1452, 7), address: 'fd00:1234:5678:9abc:def0:1234:5678:9abc', port: 65535 },
  ];
  for (const s of sent) assert.equal(w.append(s.data, s.address, s.port), true);
  assert.equal(w.count, 3);
  const got: typeof sent = [];
  forEachDatagram(w.buffer, w.length, (data, address, port) =>
    got.push({ data: Buffer.from(data), address, port }),
  );
  assert.deepEqual(got, sent);
});

test('a full batch refuses the next datagram, and a batch sized for a large one takes it', () => {
  const w = new DatagramBatchWriter();
  const big = Buffer.alloc(1500);
  let n = 0;
  while (w.append(big, '10.0.0.1', 1)) n++;
  assert.ok(n > 0 && w.length <= BATCH_BYTES);
  const large = Buffer.alloc(BATCH_BYTES - 100);
  assert.equal(w.append(large, '10.0.0.1', 1), false);
  const w2 = new DatagramBatchWriter(DatagramBatchWriter.recordBytes(large.length, '10.0.0.1'));
  assert.equal(w2.append(large, '10.0.0.1', 1), true);
  // Beyond a UDP datagram's size the record's u16 length cannot say it: an error, not truncation.
  assert.throws(
    () => new DatagramBatchWriter(200_000).append(Buffer.alloc(70_000), '10.0.0.1', 1),
    RangeError,
  );
});

test('a truncated batch is an error, not a short read', () => {
  const w = new DatagramBatchWriter();
  w.append(Buffer.from('hello'), '10.0.0.1', 9);
  assert.throws(() => forEachDatagram(w.buffer, w.length - 1, () => {}), RangeError);
});
