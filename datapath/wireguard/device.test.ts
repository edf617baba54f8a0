// Two devices over real UDP sockets on loopback, IPv4 and IPv6: handshake, packets both ways, stats,
// peers changed at run time. (The interop test against wireguard-go is interop.e2e.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/primitives.ts';
import { WireGuardDevice } from './device.ts';

for (const [family, loopback, listenA, ioThread] of [
  ['IPv4', '127.0.0.1', '127.0.0.1', false],
  ['IPv6', '::1', '::1', false],
  ['IPv4 to a dual-stack socket', '127.0.0.1', undefined, false],
  ['IPv4 (UDP on the I/O thread)', '127.0.0.1', '127.0.0.1', true],
  ['IPv4 to a dual-stack socket (UDP on the I/O thread)', '127.0.0.1', undefined, true],
] as const) {
  test(`two devices over ${family} loopback exchange packets both ways`, async (t) => {
    const privA = generatePrivateKey();
    const privB = generatePrivateKey();
    const a = await WireGuardDevice.open({ privateKey: privA, listenAddress: listenA, ioThread });
    const b = await WireGuardDevice.open({ privateKey: privB, listenAddress: loopback, ioThread });
    t.after(() => Promise.all([a.close(), b.close()]));
    a.addPeer({
      publicKey: publicKeyOf(privB),
      endpoint: { address: loopback, port: b.port },
      allowedIps: ['10.7.0.2/32'],
    });
    b.addPeer({ publicKey: publicKeyOf(privA), allowedIps: ['10.7.0.1/32'] });
    const ipA = parseAddress('10.7.0.1');
    const ipB = parseAddress('10.7.0.2');

    const received = new Promise<{ packet: Uint8Array; peer: string }>((resolve) =>
      b.onPacket((packet, peer) => resolve({ packet, peer })),
    );
    const request = buildEchoRequest(ipA, ipB, 1, 1, Buffer.from('over udp'));
    assert.equal(a.send(request), 'staged');
    const got = await received;
    assert.deepEqual(Buffer.from(got.packet), request);
    assert.equal(got.peer, a.publicKey);

    // B learned A's endpoint from the handshake (it had none configured) and can answer.
    const back = new Promise<Uint8Array>((resolve) => a.onPacket((packet) => resolve(packet)));
    const reply = buildEchoRequest(ipB, ipA, 1, 2);
    assert.equal(b.send(reply), 'sent');
    assert.deepEqual(Buffer.from(await back), reply);
    const [statsB] = b.peers();
    assert.equal(statsB.endpoint?.address, loopback);
    assert.equal(statsB.endpoint?.port, a.port);
    assert.ok(statsB.rxBytes > 0 && statsB.txBytes > 0 && statsB.lastHandshakeTime > 0);

    // Removing the peer at run time: its packets are no longer routed.
    b.removePeer(a.publicKey);
    assert.equal(b.send(reply), 'no-route');
  });
}

for (const ioThread of [false, true]) {
  test(`a port already taken fails open() with EADDRINUSE${ioThread ? ' (I/O thread)' : ''}`, async (t) => {
    const a = await WireGuardDevice.open({ privateKey: generatePrivateKey(), listenAddress: '127.0.0.1' });
    t.after(() => a.close());
    await assert.rejects(
      WireGuardDevice.open({
        privateKey: generatePrivateKey(),
        listenAddress: '127.0.0.1',
        listenPort: a.port,
        ioThread,
      }),
      { code: 'EADDRINUSE' },
    );
  });
}
