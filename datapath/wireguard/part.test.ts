// The `--wg-config` part: a wg-quick file on disk becomes a running device whose peers show up in
// the /status document and the Prometheus registry (the real StatusRegistry and DatapathMetrics).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Datapath } from '../cli/parts.ts';
import { DatapathMetrics } from '../health/metrics.ts';
import { StatusRegistry } from '../health/status.ts';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/primitives.ts';
import { WireGuardDevice } from './device.ts';
import { encodeKey } from './keys.ts';
import { runningWireGuard, startWireGuardPart } from './part.ts';

test('--wg-config starts the device; peers appear in /status and /metrics', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-wgpart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ourKey = generatePrivateKey();
  const peerKey = generatePrivateKey();
  const remote = await WireGuardDevice.open({ privateKey: peerKey, listenAddress: '127.0.0.1' });
  t.after(() => remote.close());
  const file = join(dir, 'wg0.conf');
  writeFileSync(
    file,
    `[Interface]\nPrivateKey = ${encodeKey(ourKey)}\nAddress = 10.77.0.1/24\nMTU = 1380\nPostUp = echo never\n\n` +
      `[Peer]\nPublicKey = ${encodeKey(publicKeyOf(peerKey))}\nEndpoint = 127.0.0.1:${remote.port}\nAllowedIPs = 10.77.0.2/32\n`,
    { mode: 0o600 },
  );
  const warnings: string[] = [];
  const log = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {}, setLevel() {} };
  const status = new StatusRegistry();
  const metrics = new DatapathMetrics();
  const dp = {
    settings: { extra: { 'wg-config': file, 'wg-port': '0' } },
    log,
    status,
    metrics,
  } as unknown as Datapath;
  const part = await startWireGuardPart(dp);
  assert.ok(part);
  t.after(() => part.stop());
  assert.deepEqual(warnings, [`${file}:5: PostUp is a wg-quick host setting; ignored`]);
  const wg = runningWireGuard();
  assert.ok(wg);
  assert.equal(wg.mtu, 1380);

  remote.addPeer({
    publicKey: publicKeyOf(ourKey),
    endpoint: { address: '127.0.0.1', port: wg.device.port },
    allowedIps: ['10.77.0.1/32'],
  });
  const got = new Promise<Uint8Array>((resolve) => wg.device.onPacket((p) => resolve(p)));
  remote.send(buildEchoRequest(parseAddress('10.77.0.2'), parseAddress('10.77.0.1'), 1, 1));
  await got;

  const section = status.snapshot().wireguard as {
    publicKey: string;
    addresses: string[];
    peers: { publicKey: string; endpoint: string; lastHandshakeTime: string | null; rxBytes: number }[];
  };
  assert.equal(section.publicKey, encodeKey(publicKeyOf(ourKey)));
  assert.deepEqual(section.addresses, ['10.77.0.1/24']);
  assert.equal(section.peers[0].endpoint, `127.0.0.1:${remote.port}`);
  assert.ok(section.peers[0].lastHandshakeTime !== null && section.peers[0].rxBytes > 0);
  const text = await metrics.registry.metrics();
  const peerLabel = `peer="${encodeKey(publicKeyOf(peerKey))}"`;
  const rx = text
    .split('\n')
    .find((l) => l.startsWith(`lattice_wireguard_peer_receive_bytes_total{${peerLabel}}`));
  assert.ok(rx && Number(rx.split(' ')[1]) > 0, text);
  assert.match(text, /lattice_wireguard_peer_last_handshake_seconds\{peer="[^"]+"\} \d{10}/);
});

test('a bad wg-quick file stops startup with the line and key named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-wgpart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wg0.conf');
  writeFileSync(file, `[Interface]\nPrivateKey = nope\n`, { mode: 0o600 });
  const dp = { settings: { extra: { 'wg-config': file } } } as unknown as Datapath;
  await assert.rejects(
    startWireGuardPart(dp),
    new RegExp(`^WgQuickConfigError: ${file}:2: \\[Interface\\] PrivateKey`),
  );
});
