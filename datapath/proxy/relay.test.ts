// The relay over real loopback sockets: exact byte counts, half-close in each direction, and that a
// destination that stops reading pauses the source instead of buffering without bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { type CloseReason, Relay } from './relay.ts';

/** Two connected socket pairs: a client ↔ (relay) ↔ upstream, all in this process. */
async function pairs(): Promise<{
  client: Socket;
  upstream: Socket;
  relayClient: Socket;
  relayUp: Socket;
  close: () => void;
}> {
  const accepted: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = createConnection({ port, host: '127.0.0.1', allowHalfOpen: true });
  const relayUp = createConnection({ port, host: '127.0.0.1', allowHalfOpen: true });
  await Promise.all([once(client, 'connect'), once(relayUp, 'connect')]);
  while (accepted.length < 2) await new Promise((r) => setTimeout(r, 5));
  // accepted[i] pairs with the i-th connect by local port
  const byPeer = (s: Socket) => accepted.find((a) => a.remotePort === s.localPort)!;
  return {
    client,
    relayClient: byPeer(client),
    relayUp,
    upstream: byPeer(relayUp),
    close: () => server.close(),
  };
}

test('bytes are counted exactly and a FIN travels each way on its own (half-close)', async () => {
  const p = await pairs();
  let done: [number, number, CloseReason] | null = null;
  const relay = new Relay(p.relayClient, p.relayUp, (r, reason) => (done = [r.up, r.down, reason]));
  relay.start(Buffer.from('early'));
  p.client.end(Buffer.alloc(1000, 1)); // client is done sending, still reading
  let upGot = 0;
  p.upstream.on('data', (d) => (upGot += d.length));
  await once(p.upstream, 'end');
  assert.equal(upGot, 1005);
  p.upstream.end(Buffer.alloc(3000, 2)); // the reply still flows after the client's FIN
  let downGot = 0;
  p.client.on('data', (d) => (downGot += d.length));
  await once(p.client, 'end');
  assert.equal(downGot, 3000);
  while (done === null) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(done, [1005, 3000, 'client-closed']);
  p.close();
});

test('a destination that does not read pauses the source', async () => {
  const p = await pairs();
  const relay = new Relay(p.relayClient, p.relayUp, () => {});
  relay.start(null);
  p.client.pause(); // the client never reads
  const chunk = Buffer.alloc(64 * 1024, 3);
  let written = 0;
  const deadline = Date.now() + 1500;
  while (Date.now() < deadline) {
    if (p.upstream.write(chunk)) written += chunk.length;
    else {
      written += chunk.length;
      const drained = await Promise.race([
        once(p.upstream, 'drain').then(() => true),
        new Promise((r) => setTimeout(() => r(false), 300)),
      ]);
      if (!drained) break; // the upstream's writes stall: the relay stopped reading it
    }
  }
  assert.ok(written < 32 * 1024 * 1024, `upstream kept writing ${written} bytes into a stalled path`);
  assert.ok(
    p.relayClient.writableLength <= 2 * 64 * 1024 + 16 * 1024,
    `relay buffered ${p.relayClient.writableLength} bytes`,
  );
  relay.close('idle-timeout');
  p.client.destroy();
  p.upstream.destroy();
  p.close();
});
