// A batch of UDP datagrams packed into one buffer, so the WireGuard device and its UDP I/O thread
// exchange one message per event-loop turn instead of one per packet. Pure: no I/O.
//
// Record layout: u16 datagram length | u16 port | u8 address length | address (latin1) | datagram.

export const BATCH_BYTES = 64 * 1024;
const RECORD_HEADER = 5;

export class DatagramBatchWriter {
  buffer: Buffer;
  length = 0;
  count = 0;

  constructor(minBytes = BATCH_BYTES) {
    this.buffer = Buffer.allocUnsafe(Math.max(minBytes, BATCH_BYTES));
  }

  /** Bytes one datagram takes in a batch. */
  static recordBytes(datagramLength: number, address: string): number {
    return RECORD_HEADER + address.length + datagramLength;
  }

  /** Appends one datagram; false when it does not fit (take the batch and start a new one). */
  append(data: Uint8Array, address: string, port: number): boolean {
    const need = RECORD_HEADER + address.length + data.length;
    if (this.length + need > this.buffer.length) return false;
    if (data.length > 0xffff || address.length > 0xff) throw new RangeError('datagram or address too long');
    const b = this.buffer;
    let o = this.length;
    b[o] = data.length >> 8;
    b[o + 1] = data.length & 0xff;
    b[o + 2] = port >> 8;
    b[o + 3] = port & 0xff;
    b[o + 4] = address.length;
    o += RECORD_HEADER;
    o += b.write(address, o, 'latin1');
    b.set(data, o);
    this.length = o + data.length;
    this.count++;
    return true;
  }
}

/** Calls `fn` for each datagram of a batch, with a view (not a copy) of its bytes. */
export function forEachDatagram(
  batch: Buffer,
  length: number,
  fn: (data: Buffer, address: string, port: number) => void,
): void {
  let o = 0;
  while (o + RECORD_HEADER <= length) {
    const n = (batch[o] << 8) | batch[o + 1];
    const port = (batch[o + 2] << 8) | batch[o + 3];
    const alen = batch[o + 4];
    o += RECORD_HEADER;
    if (o + alen + n > length) throw new RangeError('truncated datagram batch');
    const address = batch.toString('latin1', o, o + alen);
    o += alen;
    fn(batch.subarray(o, o + n), address, port);
    o += n;
  }
}
