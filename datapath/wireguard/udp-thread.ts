// The WireGuard device's UDP socket, on its own thread. One `sendto`/`recvfrom` per datagram is the
// largest cost of the overlay path (Node has no sendmmsg or GSO), so it runs on a worker thread while
// the main thread does the netstack, the proxy and the encryption: two cores instead of one.
// Datagrams cross between the threads in batches (datagram-batch.ts), one message per event-loop
// turn each way, their buffers transferred, not copied.
//
// This file is both sides: `UdpThread` (main thread) starts itself as the worker, and the code at
// the bottom runs when it is that worker.
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DatagramBatchWriter, forEachDatagram } from './datagram-batch.ts';
import { literalLookup } from './udp-lookup.ts';

export interface UdpThreadOptions {
  address: string;
  port: number;
  bufferBytes: number;
}

type ToWorker = { kind: 'send'; buffer: ArrayBuffer; length: number } | { kind: 'close' };
type FromWorker =
  | { kind: 'ready'; port: number }
  | { kind: 'failed'; message: string; code?: string }
  | { kind: 'received'; buffer: ArrayBuffer; length: number; sendErrors: number };

export type DatagramHandler = (data: Buffer, address: string, port: number) => void;

export class UdpThread {
  readonly port: number;
  readonly #worker: Worker;
  #out: DatagramBatchWriter | null = null;
  #flushQueued = false;
  #closed = false;
  sendErrors = 0;
  /** The thread batches every datagram already; nothing is read in bursts here. */
  readonly burstDatagrams = 0;
  /** Set when the I/O thread died (the device is then deaf and mute). */
  failure: Error | null = null;

  private constructor(worker: Worker, port: number, onDatagram: DatagramHandler) {
    this.#worker = worker;
    this.port = port;
    worker.on('message', (m: FromWorker) => {
      if (m.kind !== 'received') return;
      this.sendErrors += m.sendErrors;
      forEachDatagram(Buffer.from(m.buffer, 0, m.length), m.length, onDatagram);
    });
    worker.on('error', (err) => {
      this.failure = err;
    });
  }

  static async start(opts: UdpThreadOptions, onDatagram: DatagramHandler): Promise<UdpThread> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { ...opts, udpThread: true } });
    const port = await new Promise<number>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        worker.off('error', reject);
        worker.off('message', onMessage);
        if (m.kind === 'ready') resolve(m.port);
        else if (m.kind === 'failed') {
          const err = Object.assign(new Error(m.message), m.code !== undefined ? { code: m.code } : {});
          reject(err);
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    return new UdpThread(worker, port, onDatagram);
  }

  /** Queues one datagram; the bytes are copied now, so the caller may reuse them at once. */
  send(data: Uint8Array, address: string, port: number): void {
    if (this.#closed) return;
    if (this.#out === null) this.#out = new DatagramBatchWriter();
    if (!this.#out.append(data, address, port)) {
      this.#flush();
      this.#out = new DatagramBatchWriter(DatagramBatchWriter.recordBytes(data.length, address));
      this.#out.append(data, address, port);
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // After the code that is sending now (a netstack flush sends a burst synchronously) has run.
      queueMicrotask(this.#flushQueuedBatch);
    }
  }

  readonly #flushQueuedBatch = (): void => {
    this.#flushQueued = false;
    this.#flush();
  };

  #flush(): void {
    const out = this.#out;
    if (out === null || out.count === 0 || this.#closed) return;
    this.#out = null;
    const buffer = out.buffer.buffer as ArrayBuffer;
    // A small Buffer may sit in Node's shared pool; only a buffer of its own can be transferred.
    const own = out.buffer.byteOffset === 0 && buffer.byteLength === out.buffer.length;
    const msg: ToWorker = own
      ? { kind: 'send', buffer, length: out.length }
      : {
          kind: 'send',
          buffer: out.buffer.buffer.slice(
            out.buffer.byteOffset,
            out.buffer.byteOffset + out.length,
          ) as ArrayBuffer,
          length: out.length,
        };
    this.#worker.postMessage(msg, [msg.buffer]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage({ kind: 'close' } satisfies ToWorker);
    await exited;
  }
}

// ---- the worker side --------------------------------------------------------------------------

function runWorker(port: NonNullable<typeof parentPort>, opts: UdpThreadOptions): void {
  const v4 = isIPv4(opts.address);
  const dualStack = !v4 && opts.address === '::';
  const socket = dgram.createSocket({ type: v4 ? 'udp4' : 'udp6', ipv6Only: false, lookup: literalLookup });
  let sendErrors = 0;
  const onSent = (err: Error | null) => {
    if (err) sendErrors++;
  };
  socket.on('error', () => {
    sendErrors++;
  });
  const mapped = new Map<string, string>();
  const peerAddress = (a: string): string => {
    if (!dualStack) return a;
    let m = mapped.get(a);
    if (m === undefined) {
      m = isIPv4(a) ? `::ffff:${a}` : a;
      if (mapped.size > 1024) mapped.clear();
      mapped.set(a, m);
    }
    return m;
  };

  let rx: DatagramBatchWriter | null = null;
  let rxQueued = false;
  const postReceived = () => {
    rxQueued = false;
    const batch = rx;
    rx = null;
    if (batch === null || batch.count === 0) return;
    const ab = batch.buffer.buffer as ArrayBuffer;
    const own = batch.buffer.byteOffset === 0 && ab.byteLength === batch.buffer.length;
    const buffer = own
      ? ab
      : (ab.slice(batch.buffer.byteOffset, batch.buffer.byteOffset + batch.length) as ArrayBuffer);
    const msg: FromWorker = { kind: 'received', buffer, length: batch.length, sendErrors };
    sendErrors = 0;
    port.postMessage(msg, [buffer]);
  };
  socket.on('message', (msg, rinfo) => {
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; the device sees plain IPv4.
    const address =
      rinfo.family === 'IPv6' && rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
    if (rx === null) rx = new DatagramBatchWriter();
    if (!rx.append(msg, address, rinfo.port)) {
      postReceived();
      rx = new DatagramBatchWriter(DatagramBatchWriter.recordBytes(msg.length, address));
      rx.append(msg, address, rinfo.port);
    }
    if (!rxQueued) {
      rxQueued = true;
      // After this poll phase: every datagram the socket had ready goes in one message.
      setImmediate(postReceived);
    }
  });

  port.on('message', (m: ToWorker) => {
    if (m.kind === 'close') {
      socket.close(() => process.exit(0));
      return;
    }
    const batch = Buffer.from(m.buffer, 0, m.length);
    // The views stay valid until sent: nothing reuses a transferred batch.
    forEachDatagram(batch, m.length, (data, address, p) =>
      socket.send(data, p, peerAddress(address), onSent),
    );
  });

  socket.once('error', (err: NodeJS.ErrnoException) => {
    port.postMessage({ kind: 'failed', message: err.message, code: err.code } satisfies FromWorker);
  });
  socket.bind(opts.port, opts.address, () => {
    socket.removeAllListeners('error');
    socket.on('error', () => {
      sendErrors++;
    });
    try {
      // Bursts of datagrams outrun one event loop turn; a larger queue trades memory for fewer drops.
      socket.setRecvBufferSize(opts.bufferBytes);
      socket.setSendBufferSize(opts.bufferBytes);
    } catch {
      // The kernel caps these (net.core.rmem_max); the default then stays, which still works.
    }
    port.postMessage({ kind: 'ready', port: socket.address().port } satisfies FromWorker);
  });
}

if (!isMainThread && parentPort !== null && (workerData as { udpThread?: boolean })?.udpThread) {
  runWorker(parentPort, workerData as UdpThreadOptions);
}
