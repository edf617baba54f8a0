// Two devices over real UDP sockets on loopback, IPv4 and IPv6: handshake, packets both ways, stats,
// peers changed at run time. (The interop test against wireguard-go is interop.e2e.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/primitives.ts';
import { WireGuardDevice } from './device.ts';

for (const [family, loopback, listenA] of [
  ['IPv4', '127.0.0.1', '127.0.0.1'],
  ['IPv6', '::1', '::1'],
  ['IPv4 to a dual-stack socket', '127.0.0.1', undefined],
] as const) {
  test(`two devices over ${family} loopback exchange packets both ways`, async (t) => {
    const privA = generatePrivateKey();
    const privB = generatePrivateKey();
    const a = await WireGuardDevice.open({ privateKey: privA, listenAddress: listenA });
    const b = await WireGuardDevice.open({ privateKey: privB, listenAddress: loopback });
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

test('a port already taken fails open() with EADDRINUSE', async (t) => {
  const a = await WireGuardDevice.open({ privateKey: generatePrivateKey(), listenAddress: '127.0.0.1' });
  t.after(() => a.close());
  await assert.rejects(
    WireGuardDevice.open({
      privateKey: generatePrivateKey(),
      listenAddress: '127.0.0.1',
      listenPort: a.port,
    }),
    { code: 'EADDRINUSE' },
  );
});

test('a peer that moves to a new port keeps getting every packet, as our sending socket follows it', async (t) => {
  // The device sends to its busiest endpoint on a connected socket (device.ts, UdpSockets). Here the
  // peer restarts on another port (same key) and initiates: the first datagrams to it leave on the
  // bound socket, later ones on the socket connected to the new endpoint — none may be lost.
  const privA = generatePrivateKey();
  const privB = generatePrivateKey();
  const a = await WireGuardDevice.open({ privateKey: privA, listenAddress: '127.0.0.1' });
  const b1 = await WireGuardDevice.open({ privateKey: privB, listenAddress: '127.0.0.1' });
  let b2: WireGuardDevice | null = null;
  t.after(() => Promise.all([a.close(), b1.close(), b2?.close()]));
  const ipA = parseAddress('10.7.0.1');
  const ipB = parseAddress('10.7.0.2');
  a.addPeer({ publicKey: publicKeyOf(privB), allowedIps: ['10.7.0.2/32'] });
  const packetsTo = (d: WireGuardDevice) => {
    const got: number[] = [];
    d.onPacket((p) => got.push(Buffer.from(p).readUInt16BE(26))); // the echo sequence number
    return got;
  };
  const ping = (seq: number) => buildEchoRequest(ipA, ipB, 1, seq);
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond());
  };

  b1.addPeer({
    publicKey: publicKeyOf(privA),
    endpoint: { address: '127.0.0.1', port: a.port },
    allowedIps: ['10.7.0.1/32'],
  });
  const atA = packetsTo(a);
  b1.send(buildEchoRequest(ipB, ipA, 1, 0));
  await waitFor(() => atA.length === 1);
  const atB1 = packetsTo(b1);
  for (let seq = 1; seq <= 100; seq++) assert.equal(a.send(ping(seq)), 'sent');
  await waitFor(() => atB1.length === 100);

  // (opened before b1 closes, so its port is surely another)
  b2 = await WireGuardDevice.open({ privateKey: privB, listenAddress: '127.0.0.1' });
  assert.notEqual(b2.port, b1.port);
  await b1.close();
  b2.addPeer({
    publicKey: publicKeyOf(privA),
    endpoint: { address: '127.0.0.1', port: a.port },
    allowedIps: ['10.7.0.1/32'],
  });
  b2.send(buildEchoRequest(ipB, ipA, 1, 1));
  await waitFor(() => atA.length === 2);
  assert.equal(a.peers()[0].endpoint?.port, b2.port);
  const atB2 = packetsTo(b2);
  for (let seq = 1; seq <= 200; seq++) assert.equal(a.send(ping(seq)), 'sent');
  await waitFor(() => atB2.length === 200);
  assert.deepEqual(
    atB2,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  // And the peer still reaches us.
  b2.send(buildEchoRequest(ipB, ipA, 1, 2));
  await waitFor(() => atA.length === 3);
});

for (const [family, listenB] of [
  ['IPv4', '127.0.0.1'],
  ['IPv4 to a dual-stack socket', undefined],
] as const) {
  test(`a burst of packets from the connected peer arrives complete and in order, read in bursts (${family})`, async (t) => {
    // B has sent to A, so B's socket connected to A receives A's datagrams (device.ts, UdpSockets);
    // A then sends 300 packets in one run: B reads most of them with the burst reader (udp-burst.ts).
    const privA = generatePrivateKey();
    const privB = generatePrivateKey();
    const a = await WireGuardDevice.open({ privateKey: privA, listenAddress: '127.0.0.1' });
    const b = await WireGuardDevice.open({ privateKey: privB, listenAddress: listenB });
    t.after(() => Promise.all([a.close(), b.close()]));
    const ipA = parseAddress('10.7.0.1');
    const ipB = parseAddress('10.7.0.2');
    a.addPeer({ publicKey: publicKeyOf(privB), allowedIps: ['10.7.0.2/32'] });
    b.addPeer({
      publicKey: publicKeyOf(privA),
      endpoint: { address: '127.0.0.1', port: a.port },
      allowedIps: ['10.7.0.1/32'],
    });
    const atA: Uint8Array[] = [];
    a.onPacket((p) => atA.push(p));
    b.send(buildEchoRequest(ipB, ipA, 1, 0));
    for (let i = 0; i < 200 && atA.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(atA.length, 1);

    const atB: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      b.onPacket((p) => {
        atB.push(Buffer.from(p));
        if (atB.length === 300) resolve();
      }),
    );
    const ping = (seq: number) => buildEchoRequest(ipA, ipB, 1, seq, Buffer.alloc(seq % 1300, seq & 0xff));
    for (let seq = 1; seq <= 300; seq++) assert.equal(a.send(ping(seq)), 'sent');
    await all;
    for (let seq = 1; seq <= 300; seq++) assert.deepEqual(atB[seq - 1], ping(seq), `packet ${seq}`);
    assert.ok(b.burstDatagrams > 0, 'part of the burst was read by the burst reader');
    assert.equal(b.peers()[0].endpoint?.port, a.port);
  });
}
