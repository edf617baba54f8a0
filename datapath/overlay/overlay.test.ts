// The overlay dialer and listener over two netstacks joined in memory (no WireGuard needed to test
// the mapping to the datapath's Dialer and StreamListener contracts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DialError } from '../dial/dialer.ts';
import type { PeerInfo } from '../forward/listener.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { NetstackRuntime } from '../netstack/runtime.ts';
import { formatAddress, parseAddressLiteral } from '../policy/address.ts';
import { addressToBytes, bytesToAddress } from './addresses.ts';
import { OverlayDialer } from './dialer.ts';
import { OverlayListener } from './listener.ts';

const US = parseAddress('10.77.0.1');
const THEM = parseAddress('10.77.0.2');

function pair() {
  let open = true;
  let a: NetstackRuntime | null = null;
  let b: NetstackRuntime | null = null;
  a = new NetstackRuntime({ addresses: [US], send: (p) => open && setImmediate(() => b!.receive(p)) });
  b = new NetstackRuntime({ addresses: [THEM], send: (p) => open && setImmediate(() => a!.receive(p)) });
  return {
    a,
    b,
    close() {
      open = false;
      a!.close();
      b!.close();
    },
  };
}

describe('overlay glue', () => {
  it('addresses convert both ways, IPv4 and IPv6', () => {
    for (const t of ['10.1.2.3', 'fd00::1:2']) {
      const a = parseAddressLiteral(t)!;
      assert.equal(formatAddress(bytesToAddress(addressToBytes(a))), t);
    }
  });

  it('dials through the netstack and reports the overlay path and local end', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    b.listen(80, (s) => s.end('pong'));
    const d = new OverlayDialer(a, 'overlay:peer1');
    const r = await d.dial({ address: bytesToAddress(THEM), port: 80 }, { connId: 'c1', timeoutMs: 2000 });
    assert.equal(r.path, 'overlay:peer1');
    assert.equal(formatAddress(r.localAddress!), '10.77.0.1');
    assert.ok(r.localPort >= 49152);
    const chunks: Buffer[] = [];
    for await (const c of r.stream) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'pong');
  });

  it('no free local port is a no-route dial (as EADDRNOTAVAIL is for a direct dial), not a hang', async (t) => {
    let open = true;
    let b: NetstackRuntime | null = null;
    const a = new NetstackRuntime({
      addresses: [US],
      send: (p) => open && setImmediate(() => b!.receive(p)),
      ephemeralPortRange: [50000, 50000],
    });
    b = new NetstackRuntime({ addresses: [THEM], send: (p) => open && setImmediate(() => a.receive(p)) });
    t.after(() => {
      open = false;
      a.close();
      b!.close();
    });
    b.listen(80, () => {});
    const d = new OverlayDialer(a, 'overlay:peer1');
    const held = await d.dial({ address: bytesToAddress(THEM), port: 80 }, { connId: 'c1', timeoutMs: 2000 });
    t.after(() => held.stream.destroy());
    await assert.rejects(
      d.dial({ address: bytesToAddress(THEM), port: 80 }, { connId: 'c2', timeoutMs: 2000 }),
      (e: DialError) => e instanceof DialError && e.kind === 'no-route' && /ports?/.test(e.message),
    );
  });

  it('a closed port is a refused dial', async (t) => {
    const { a, close } = pair();
    t.after(close);
    const d = new OverlayDialer(a, 'overlay:peer1');
    await assert.rejects(
      d.dial({ address: bytesToAddress(THEM), port: 81 }, { connId: 'c2', timeoutMs: 2000 }),
      (e: DialError) => e instanceof DialError && e.kind === 'refused',
    );
  });

  it('a peer that never answers is a timeout; an aborted client is aborted', async (t) => {
    const silent = new NetstackRuntime({ addresses: [US], send: () => {} });
    t.after(() => silent.close());
    const d = new OverlayDialer(silent, 'overlay:peer1');
    await assert.rejects(
      d.dial({ address: bytesToAddress(THEM), port: 80 }, { connId: 'c3', timeoutMs: 100 }),
      (e: DialError) => e.kind === 'timeout',
    );
    const ac = new AbortController();
    const p = d.dial(
      { address: bytesToAddress(THEM), port: 80 },
      { connId: 'c4', timeoutMs: 5000, signal: ac.signal },
    );
    ac.abort();
    await assert.rejects(p, (e: DialError) => e.kind === 'aborted');
  });

  it('the listener hands over streams with the peer overlay address for allowFrom', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const l = new OverlayListener(b, THEM, 8080, (addr) =>
      formatAddress(bytesToAddress(addr)) === '10.77.0.1' ? 'agent-1' : null,
    );
    const got = new Promise<PeerInfo>((resolve) =>
      l.start((s, peer) => {
        s.end('hi');
        resolve(peer);
      }),
    );
    assert.equal(l.description, 'overlay 10.77.0.2:8080');
    const s = await a.connect(THEM, 8080);
    s.resume();
    const peer = await got;
    assert.equal(formatAddress(peer.address!), '10.77.0.1');
    assert.equal(peer.name, 'agent-1');
    await l.close();
    await assert.rejects(a.connect(THEM, 8080), /refused/);
  });
});
