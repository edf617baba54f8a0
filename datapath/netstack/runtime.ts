// The netstack's adapter to Node's event loop: real clock, real randomness, flush after each I/O turn
// (so a burst of incoming packets is answered with one ACK, and many small writes leave as full
// segments), and one coarse timer for all connections. The link is whatever `send` reaches and
// whatever calls `receive`: the WireGuard device in the datapath, a loopback pair in tests.
import { randomFillSync } from 'node:crypto';
import { type AdmitFn, Netstack, type NetstackOptions } from './stack.ts';
import { type TcpConnection, TcpError } from './tcp/connection.ts';
import { TcpStream, type TcpStreamOptions } from './tcp/stream.ts';

export interface RuntimeOptions {
  addresses: Uint8Array[];
  send: (packet: Buffer) => void;
  /** `send` copies what it keeps (the WireGuard device does): see NetstackOptions.outputCopies. */
  sendCopies?: boolean;
  /** What `receive` gets was authenticated by the link (WireGuard): see NetstackOptions.linkAuthenticated. */
  linkAuthenticated?: boolean;
  mtu?: number;
  tcp?: NetstackOptions['tcp'];
  /** Timer granularity: how often due timers are checked while connections exist. */
  tickMs?: number;
  /** see NetstackOptions.interceptAll (gVisor mode) */
  interceptAll?: boolean;
  /** see NetstackOptions.ephemeralPortRange */
  ephemeralPortRange?: [number, number];
  /** Options of every stream (TcpStreamOptions.holdBytes). */
  stream?: TcpStreamOptions;
}

export class NetstackRuntime {
  readonly stack: Netstack;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  private closed = false;
  private readonly streamOpts: TcpStreamOptions;

  constructor(opts: RuntimeOptions) {
    this.tickMs = opts.tickMs ?? 10;
    this.streamOpts = opts.stream ?? {};
    this.stack = new Netstack({
      addresses: opts.addresses,
      output: opts.send,
      outputCopies: opts.sendCopies,
      linkAuthenticated: opts.linkAuthenticated,
      now: () => performance.now(),
      randomBytes: pooledRandomBytes,
      mtu: opts.mtu,
      tcp: opts.tcp,
      onDirty: () => this.scheduleFlush(),
      interceptAll: opts.interceptAll,
      ephemeralPortRange: opts.ephemeralPortRange,
    });
  }

  /** One IP packet from the link. The stack keeps views into it: pass a buffer nobody reuses. */
  receive(packet: Buffer): void {
    if (this.closed) return;
    this.stack.input(packet);
    this.scheduleFlush();
    this.ensureTimer();
  }

  /** Opens a TCP connection; resolves when established, rejects with a TcpError. */
  connect(address: Uint8Array, port: number, timeoutMs = 30_000): Promise<TcpStream> {
    return new Promise((resolve, reject) => {
      let conn: TcpConnection;
      try {
        conn = this.stack.connect(address, port);
      } catch (e) {
        // NetstackError: no local address, or no ephemeral port left (`code` says which).
        reject(e);
        return;
      }
      const stream = new TcpStream(conn, this.streamOpts);
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new TcpError('timeout', `connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      stream.once('error', onError);
      conn.onEstablished = () => {
        clearTimeout(timer);
        stream.removeListener('error', onError);
        // Until the caller's code after `await` has run and attached its own handlers, an error (a
        // reset right behind the SYN-ACK) must not be an uncaught 'error' event; the stream is then
        // already destroyed, which the caller sees.
        const guard = () => {};
        stream.on('error', guard);
        setImmediate(() => stream.off('error', guard));
        resolve(stream);
      };
      this.scheduleFlush();
      this.ensureTimer();
    });
  }

  /** Accepts connections to port (on `address`, or any of ours) as streams. */
  listen(port: number, onStream: (s: TcpStream) => void, address?: Uint8Array): { close(): void } {
    return this.stack.listen(port, (conn) => onStream(new TcpStream(conn, this.streamOpts)), address);
  }

  /** Intercept mode: accepts TCP to any destination as streams (`s.conn.localAddress/Port` = where to). */
  listenAll(onStream: (s: TcpStream) => void, admit?: AdmitFn): { close(): void } {
    return this.stack.listenAll((conn) => onStream(new TcpStream(conn, this.streamOpts)), admit);
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.stack.connections()]) c.abort();
    this.stack.flush();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.stack.flush();
      this.ensureTimer();
    });
  }

  private ensureTimer(): void {
    if (this.timer !== null || this.closed) return;
    this.timer = setInterval(() => {
      this.stack.tick();
      // TIME_WAIT records need the tick too (to expire), but cost it nothing until they do.
      if (this.stack.connectionCount === 0 && this.stack.timeWaitCount === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, this.tickMs);
  }
}

// The stack asks for a few random bytes per connection (timestamp offset, ephemeral port); one
// kernel call per 4 KiB instead of one per request. Each answer is a copy (a caller may keep it), and
// the position only advances until the refill, so no byte is handed out twice.
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES);
let randomPoolUsed = RANDOM_POOL_BYTES;

function pooledRandomBytes(n: number): Buffer {
  if (n > RANDOM_POOL_BYTES >> 4) return randomFillSync(Buffer.allocUnsafe(n));
  if (randomPoolUsed + n > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  const out = Buffer.from(randomPool.subarray(randomPoolUsed, randomPoolUsed + n));
  randomPoolUsed += n;
  return out;
}
