// Per-peer metrics read from a live device (two devices on loopback) through a real prom-client registry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/primitives.ts';
import { WireGuardDevice } from './device.ts';
import { registerWireGuardMetrics } from './metrics.ts';

test('rx/tx bytes, last handshake, connected, drops, socket errors and burst reads', async (t) => {
  const privA = generatePrivateKey();
  const privB = generatePrivateKey();
  const a = await WireGuardDevice.open({ privateKey: privA, listenAddress: '127.0.0.1' });
  const b = await WireGuardDevice.open({ privateKey: privB, listenAddress: '127.0.0.1' });
  t.after(() => Promise.all([a.close(), b.close()]));
  a.addPeer({
    publicKey: publicKeyOf(privB),
    endpoint: { address: '127.0.0.1', port: b.port },
    allowedIps: ['10.7.0.2/32'],
  });
  b.addPeer({ publicKey: publicKeyOf(privA), allowedIps: ['10.7.0.1/32'] });
  const registry = new Registry();
  let device: WireGuardDevice | null = b;
  registerWireGuardMetrics(registry, () => device);

  const got = new Promise((resolve) => b.onPacket(resolve));
  a.send(buildEchoRequest(parseAddress('10.7.0.1'), parseAddress('10.7.0.2'), 1, 1));
  await got;
  b.core.decapsulate(Buffer.alloc(3), { address: '127.0.0.1', port: 9 });

  const text = await registry.metrics();
  const value = (prefix: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(prefix))
        ?.split(' ')[1],
    );
  const peer = `peer="${a.publicKey}"`;
  assert.ok(value(`lattice_wireguard_peer_receive_bytes_total{${peer}}`) >= 148 + 32);
  assert.ok(value(`lattice_wireguard_peer_transmit_bytes_total{${peer}}`) >= 92);
  assert.equal(value(`lattice_wireguard_peer_connected{${peer}}`), 1);
  assert.ok(
    Math.abs(value(`lattice_wireguard_peer_last_handshake_seconds{${peer}}`) - Date.now() / 1000) < 60,
  );
  assert.equal(value('lattice_wireguard_dropped_datagrams_total{reason="malformed"}'), 1);
  assert.equal(value('lattice_wireguard_socket_errors_total'), 0);
  assert.equal(value('lattice_wireguard_burst_datagrams_total'), 0);

  // B answered A (so its socket connected to A receives A's datagrams): a burst is read in bursts.
  let received = 0;
  const burst = new Promise<void>((resolve) =>
    b.onPacket(() => {
      if (++received === 200) resolve();
    }),
  );
  for (let seq = 2; seq < 202; seq++)
    a.send(buildEchoRequest(parseAddress('10.7.0.1'), parseAddress('10.7.0.2'), 1, seq));
  await burst;
  const after = await registry.metrics();
  const burstRead = Number(/^lattice_wireguard_burst_datagrams_total (\d+)$/m.exec(after)?.[1]);
  assert.ok(burstRead > 0 && burstRead === b.burstDatagrams, `burst datagrams ${burstRead}`);

  device = null; // the device stopped: the series disappear instead of freezing
  assert.doesNotMatch(await registry.metrics(), /lattice_wireguard_peer_receive_bytes_total\{/);
});
