// Owned read buffers over real loopback sockets: the bytes a relay delivers are exactly the bytes
// sent, also when the client reads slowly (writes go asynchronous and must keep their buffer), when
// the client stream is not a kernel socket (it may keep views), and when the upstream speaks before
// the relay attaches. The payload is seeded pseudo-random data, so a reused buffer overwritten under
// a pending write shows as a checksum mismatch, not as identical filler bytes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, test } from 'node:test';
import { seededRandom } from '../../e2e/testing/seeded-random.ts';
import { parseAddressLiteral } from '../policy/address.ts';
import { Relay } from '../proxy/relay.ts';
import { DirectDialer } from './direct.ts';
import { MAX_READ, MIN_READ, nextReadSize } from './owned-reads.ts';

// everything a test opened, closed also when an assertion fails (else the file waits on open sockets)
const open: { destroy(): unknown }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.destroy();
});

function payload(bytes: number, seed: number): Buffer {
  const rnd = seededRandom(seed);
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE(Math.floor(rnd() * 2 ** 32) >>> 0, i);
  return b;
}
const sha = (b: Buffer | Buffer[]) => {
  const h = createHash('sha256');
  for (const x of Array.isArray(b) ? b : [b]) h.update(x);
  return h.digest('hex');
};

/** A server that writes `data` to each connection (after `delayMs`) and ends it. */
async function source(data: Buffer, delayMs = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    setTimeout(() => s.end(data), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ destroy: () => server.close() });
  return { server, port: (server.address() as { port: number }).port };
}

/**
 * A connected pair: `near` is what the relay writes to, `far` is the client's end. `near` takes up to
 * 64 MiB before write() returns false, so the relay keeps reading while its earlier writes are still
 * pending: exactly when a reused buffer would be overwritten under them.
 */
async function socketPair(): Promise<{ near: Socket; far: Socket; close: () => void }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const near = createConnection({
    port: (server.address() as { port: number }).port,
    host: '127.0.0.1',
    allowHalfOpen: true,
    // passed on to the Duplex constructor (the typings list only the net options)
    writableHighWaterMark: 64 * 1024 * 1024,
  } as NetConnectOpts);
  await once(near, 'connect');
  while (accepted.length < 1) await new Promise((r) => setTimeout(r, 5));
  open.push(near, accepted[0], { destroy: () => server.close() });
  return { near, far: accepted[0], close: () => server.close() };
}

async function dialSource(port: number) {
  const d = await new DirectDialer().dial(
    { address: parseAddressLiteral('127.0.0.1')!, port },
    { connId: 't', timeoutMs: 5000 },
  );
  open.push(d.stream);
  return d;
}

test('read sizes grow under bulk reads, shrink when reads get small, stay within bounds', () => {
  assert.equal(nextReadSize(MIN_READ, MIN_READ), MIN_READ * 4, 'a full read grows the buffer');
  assert.equal(nextReadSize(MAX_READ, MAX_READ), MAX_READ, 'never beyond MAX_READ');
  assert.equal(nextReadSize(MAX_READ, 100), MAX_READ / 4, 'a small read shrinks it');
  assert.equal(nextReadSize(MIN_READ, 1), MIN_READ, 'never below MIN_READ');
  assert.equal(nextReadSize(64 * 1024, 20 * 1024), 64 * 1024, 'a middling read keeps the size');
  let size = MIN_READ;
  for (let i = 0; i < 10; i++) size = nextReadSize(size, size);
  assert.equal(size, MAX_READ);
  for (let i = 0; i < 10; i++) size = nextReadSize(size, 10);
  assert.equal(size, MIN_READ, 'a connection idle after a burst goes back to the smallest buffer');
});

test('a slow client gets exactly the bytes sent (pending writes keep their buffers)', async () => {
  const data = payload(24 * 1024 * 1024, 7);
  const src = await source(data);
  const pair = await socketPair();
  const dialed = await dialSource(src.port);
  assert.ok(dialed.reads, 'the direct dialer reads into owned buffers');
  let done = false;
  const relay = new Relay(pair.near, dialed.stream, () => (done = true), dialed.reads);
  relay.start(null);
  // The client stops reading now and then, so the relay's writes go asynchronous.
  const rnd = seededRandom(11);
  const got: Buffer[] = [];
  pair.far.on('data', (d) => {
    got.push(d);
    if (rnd() < 0.05) {
      pair.far.pause();
      setTimeout(() => pair.far.resume(), Math.floor(rnd() * 20));
    }
  });
  await once(pair.far, 'end');
  assert.equal(Buffer.concat(got).length, data.length);
  assert.equal(sha(got), sha(data));
  assert.equal(relay.down, data.length);
  pair.far.destroy();
  while (!done) await new Promise((r) => setTimeout(r, 5));
  pair.close();
  src.server.close();
});

/**
 * Relays from `src` into a client stream that accepts every chunk at once without copying it (so the
 * relay must not reuse a buffer it handed over); returns the chunks it kept.
 */
async function relayIntoKeepingClient(src: { server: Server; port: number }): Promise<Buffer[]> {
  const kept: Buffer[] = [];
  const client = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      kept.push(chunk);
      cb();
    },
  });
  const finished = once(client, 'finish');
  const dialed = await dialSource(src.port);
  const relay = new Relay(client, dialed.stream, () => {}, dialed.reads);
  relay.start(null);
  await finished;
  relay.close('client-closed');
  src.server.close();
  return kept;
}

test('a client stream that keeps views of what it is given still gets exactly the bytes sent', async () => {
  const data = payload(8 * 1024 * 1024, 3);
  const kept = await relayIntoKeepingClient(await source(data));
  assert.equal(sha(kept), sha(data));
});

test('bytes the upstream sends before the relay attaches are delivered first and in order', async () => {
  const banner = payload(200 * 1024, 5);
  const src = await source(banner);
  const dialed = await dialSource(src.port);
  // let the banner arrive (and reading pause) before anything attaches
  await new Promise((r) => setTimeout(r, 100));
  const pair = await socketPair();
  const relay = new Relay(pair.near, dialed.stream, () => {}, dialed.reads);
  relay.start(null);
  const got: Buffer[] = [];
  pair.far.on('data', (d) => got.push(d));
  await once(pair.far, 'end');
  assert.equal(sha(got), sha(banner));
  pair.far.destroy();
  pair.close();
  src.server.close();
});

test('first reads share one buffer, yet every connection gets its own bytes (a client keeping views of them)', async () => {
  // Many connections whose first (and only) read lands in the shared first-read buffer; the clients
  // keep views of what they are given, so a chunk handed over without a copy would be overwritten by
  // the next connection's first read.
  const n = 20;
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const data = payload(1024 + 4 * i, 100 + i);
      // (the source waits, so the relay attaches before the bytes arrive)
      return { data, kept: await relayIntoKeepingClient(await source(data, 100)) };
    }),
  );
  for (const [i, r] of results.entries()) assert.equal(sha(r.kept), sha(r.data), `connection ${i}`);
});
