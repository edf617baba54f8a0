// The Duplex adapter over two real-time runtimes joined in memory: flow control both ways,
// half-close, and resets as stream errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { parseAddress } from '../ip/address.ts';
import { NetstackRuntime } from '../runtime.ts';
import { pseudoRandomBytes, sha256 } from '../testing/transfer.ts';
import type { TcpConnection, TcpError } from './connection.ts';
import { TcpStream } from './stream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const A = parseAddress('10.8.0.1');
const B = parseAddress('10.8.0.2');

function pair(rcvBuffer?: number) {
  let a: NetstackRuntime | null = null;
  let b: NetstackRuntime | null = null;
  const tcp = rcvBuffer ? { rcvBuffer } : undefined;
  let open = true; // closing the pair cuts the link first, so neither side sees the other's resets
  a = new NetstackRuntime({ addresses: [A], send: (p) => open && setImmediate(() => b!.receive(p)), tcp });
  b = new NetstackRuntime({ addresses: [B], send: (p) => open && setImmediate(() => a!.receive(p)), tcp });
  const close = () => {
    open = false;
    a!.close();
    b!.close();
  };
  return { a, b, close };
}

async function readAll(s: TcpStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('TcpStream', () => {
  it('echoes 2 MB through a server that pipes the stream back, with half-close at the end', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    b.listen(7, (s) => s.pipe(s));
    const c = await a.connect(B, 7);
    const data = pseudoRandomBytes(2 * 1024 * 1024, 7);
    const got = readAll(c);
    c.end(data);
    assert.equal(sha256(await got), sha256(data));
  });

  it('with sendCopies the stack reuses one buffer for segments, and a link that copies still gets 2 MB intact', async (t) => {
    // Links that copy each packet, as the WireGuard device does when it encrypts.
    let a: NetstackRuntime | null = null;
    let b: NetstackRuntime | null = null;
    let open = true;
    const buffersSeen = new Set<ArrayBufferLike>();
    let packets = 0;
    const link = (to: () => NetstackRuntime) => (p: Buffer) => {
      packets++;
      buffersSeen.add(p.buffer);
      const copy = Buffer.from(p);
      if (open) setImmediate(() => to().receive(copy));
    };
    a = new NetstackRuntime({ addresses: [A], send: link(() => b!), sendCopies: true });
    b = new NetstackRuntime({ addresses: [B], send: link(() => a!), sendCopies: true });
    t.after(() => {
      open = false;
      a!.close();
      b!.close();
    });
    b.listen(7, (s) => s.pipe(s));
    const c = await a.connect(B, 7);
    const data = pseudoRandomBytes(2 * 1024 * 1024, 11);
    const got = readAll(c);
    c.end(data);
    assert.equal(sha256(await got), sha256(data));
    assert.ok(packets > 1000, `${packets} packets`);
    assert.ok(buffersSeen.size <= 4, `segments came from ${buffersSeen.size} buffers, not one each`);
  });

  it('a slow reader closes the window, the writer pauses, and everything arrives once it reads', async (t) => {
    const { a, b, close } = pair(256 * 1024);
    t.after(close);
    let server: TcpStream | null = null;
    const accepted = new Promise<void>((r) =>
      b.listen(9, (s) => {
        server = s;
        s.pause();
        r();
      }),
    );
    const c = await a.connect(B, 9);
    await accepted;
    const data = pseudoRandomBytes(4 * 1024 * 1024, 9);
    let off = 0;
    let stalled = false;
    // Write until the stream pushes back and stays pushed back.
    while (off < data.length && !stalled) {
      const more = c.write(data.subarray(off, off + 65536));
      off += 65536;
      if (!more) {
        const drained = await Promise.race([once(c, 'drain').then(() => true), sleep(300).then(() => false)]);
        stalled = !drained;
      }
    }
    const srv = server as unknown as TcpStream;
    assert.ok(stalled, 'the writer is held back');
    assert.equal(srv.conn.advertisedWindow, 0, 'the receiver advertises a zero window');
    assert.ok(c.writableLength > 0, 'the writer holds data it could not send');
    assert.ok(srv.readableLength >= 256 * 1024 - 65536, 'the reader buffered about its receive buffer');
    const got = readAll(srv);
    const writeRest = async () => {
      while (off < data.length) {
        if (!c.write(data.subarray(off, off + 65536))) await once(c, 'drain');
        off += 65536;
      }
      c.end();
    };
    await writeRest();
    assert.equal(sha256(await got), sha256(data));
  });

  it('half-close: the client ends, the server still answers, then ends too', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    b.listen(8, async (s) => {
      const req = await readAll(s); // ends when the client half-closes
      s.end(`got ${req.length} bytes`);
    });
    const c = await a.connect(B, 8);
    const closed = once(c, 'close');
    const reply = readAll(c);
    c.end(Buffer.alloc(1000, 1));
    assert.equal((await reply).toString(), 'got 1000 bytes');
    await closed;
    assert.equal(c.conn.state, 'TIME_WAIT', 'the side that closed first waits 2·MSL');
  });

  it('destroy() resets the connection; the peer sees a reset error', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const serverErr = new Promise<Error>((r) => b.listen(10, (s) => s.on('error', r).resume()));
    const c = await a.connect(B, 10);
    c.write('hello');
    await new Promise((r) => setTimeout(r, 20));
    c.destroy();
    const err = (await serverErr) as TcpError;
    assert.equal(err.code, 'reset');
  });

  it('connecting to a closed port rejects with refused', async (t) => {
    const { a, close } = pair();
    t.after(close);
    await assert.rejects(a.connect(B, 11), (e: TcpError) => e.code === 'refused');
  });
});

describe('TcpStream holdBytes (fewer, larger chunks for whoever pipes it into a socket)', () => {
  /** The part of a connection the stream's read side uses; `data`/`end` are what the stack would call. */
  function fakeConnection() {
    const conn = {
      rcvBufferLimit: 1024 * 1024,
      sendBuffered: 0,
      sndBufferLimit: 1024 * 1024,
      state: 'ESTABLISHED',
      unread: 0,
      setUnread(n: number) {
        conn.unread = n;
      },
      abort() {},
      onData: (_d: Buffer) => {},
      onEnd: () => {},
      onDrain: () => {},
      onClose: (_e: TcpError | null) => {},
    };
    return conn;
  }
  const turn = () => new Promise<void>((r) => setImmediate(r));

  async function run(holdBytes: number, script: (conn: ReturnType<typeof fakeConnection>) => Promise<void>) {
    const conn = fakeConnection();
    const s = new TcpStream(conn as unknown as TcpConnection, { holdBytes });
    const chunks: number[] = [];
    s.on('data', (c: Buffer) => chunks.push(c.length));
    let ended = false;
    s.on('end', () => {
      ended = true;
    });
    await script(conn);
    return { chunks, ended: () => ended };
  }

  it('bulk data arriving turn after turn is pushed as one chunk once a turn brings nothing new', async () => {
    const r = await run(64 * 1024, async (conn) => {
      for (let i = 0; i < 3; i++) {
        conn.onData(Buffer.alloc(10_000, i));
        await turn();
      }
      for (let i = 0; i < 3; i++) await turn();
    });
    assert.deepEqual(r.chunks, [30_000]);
  });

  it('without holdBytes each turn is pushed on its own', async () => {
    const r = await run(0, async (conn) => {
      for (let i = 0; i < 3; i++) {
        conn.onData(Buffer.alloc(10_000, i));
        await turn();
      }
      await turn();
    });
    assert.deepEqual(r.chunks, [10_000, 10_000, 10_000]);
  });

  it('a turn that brings a lot for one stream (it has the link to itself) is pushed at once', async () => {
    const r = await run(64 * 1024, async (conn) => {
      for (let i = 0; i < 2; i++) {
        conn.onData(Buffer.alloc(40_000, i));
        await turn();
      }
      await turn();
    });
    assert.deepEqual(r.chunks, [40_000, 40_000]);
  });

  it('a small arrival (a reply, a prompt) is pushed after its turn, not held', async () => {
    const r = await run(64 * 1024, async (conn) => {
      conn.onData(Buffer.alloc(300));
      await turn();
      await turn();
    });
    assert.deepEqual(r.chunks, [300]);
  });

  it('holdBytes bounds what is held; the end pushes what is held before ending', async () => {
    const r = await run(64 * 1024, async (conn) => {
      for (let i = 0; i < 3; i++) {
        conn.onData(Buffer.alloc(30_000, i));
        await turn();
      }
      conn.onData(Buffer.alloc(20_000));
      conn.onEnd();
      for (let i = 0; i < 3; i++) await turn();
    });
    assert.deepEqual(r.chunks, [90_000, 20_000]);
    assert.ok(r.ended());
  });
});
