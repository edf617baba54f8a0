// The WireGuard part of `lattice sandbox start`: with `--wg-config FILE` it opens the device from a
// wg-quick file (`--wg-port` overrides ListenPort), reports peers under /status → "wireguard", and
// exports per-peer Prometheus metrics. The netstack part, registered after this one, takes the
// running device from runningWireGuard() and attaches with device.onPacket / device.send.

import { Counter, Gauge } from 'prom-client';
import type { Datapath, RunningPart } from '../cli/parts.ts';
import { registerDatapathPart } from '../cli/parts.ts';
import { type Cidr, formatCidr } from './allowed-ips.ts';
import { WireGuardDevice } from './device.ts';
import { loadWgQuickConfig } from './wg-quick-file.ts';

export interface RunningWireGuard {
  device: WireGuardDevice;
  /** The interface's own addresses with their prefixes (wg-quick Address). */
  addresses: Cidr[];
  mtu: number;
}

let running: RunningWireGuard | null = null;

/** The device started by this part, or null when WireGuard is not configured. */
export function runningWireGuard(): RunningWireGuard | null {
  return running;
}

export async function startWireGuardPart(dp: Datapath): Promise<RunningPart | undefined> {
  const file = dp.settings.extra['wg-config'];
  if (file === undefined) return undefined;
  const loaded = await loadWgQuickConfig(file);
  for (const w of loaded.warnings) dp.log.warn(w);
  const portFlag = dp.settings.extra['wg-port'];
  const listenPort = portFlag !== undefined ? Number(portFlag) : loaded.device.listenPort;
  if (listenPort !== undefined && (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535)) {
    throw new Error(`--wg-port: not a port number (got ${JSON.stringify(portFlag)})`);
  }
  const mtu = loaded.config.mtu ?? 1420;
  const device = await WireGuardDevice.open({ ...loaded.device, listenPort, mtu });
  running = { device, addresses: loaded.config.addresses, mtu };
  dp.log.info('wireguard up', {
    publicKey: device.publicKey,
    port: device.port,
    peers: loaded.config.peers.length,
    addresses: loaded.config.addresses.map(formatCidr),
  });

  dp.status.section('wireguard', () => ({
    publicKey: device.publicKey,
    listenPort: device.port,
    addresses: running?.addresses.map(formatCidr) ?? [],
    peers: device.peers().map((p) => ({
      ...p,
      endpoint: p.endpoint
        ? `${p.endpoint.address.includes(':') ? `[${p.endpoint.address}]` : p.endpoint.address}:${p.endpoint.port}`
        : null,
      lastHandshakeTime: p.lastHandshakeTime > 0 ? new Date(p.lastHandshakeTime).toISOString() : null,
    })),
    drops: device.drops(),
  }));
  registerMetrics(dp, device);

  return {
    async stop() {
      running = null;
      await device.close();
    },
  };
}

function registerMetrics(dp: Datapath, device: WireGuardDevice): void {
  const registers = [dp.metrics.registry];
  new Gauge({
    name: 'lattice_wireguard_peer_last_handshake_seconds',
    help: 'Unix time of the last completed handshake with each peer (0 = never)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of device.peers()) this.set({ peer: p.publicKey }, p.lastHandshakeTime / 1000);
    },
  });
  new Counter({
    name: 'lattice_wireguard_peer_receive_bytes_total',
    help: 'UDP payload bytes received from each peer (handshakes and transport)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of device.peers()) this.inc({ peer: p.publicKey }, p.rxBytes);
    },
  });
  new Counter({
    name: 'lattice_wireguard_peer_transmit_bytes_total',
    help: 'UDP payload bytes sent to each peer (handshakes and transport)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of device.peers()) this.inc({ peer: p.publicKey }, p.txBytes);
    },
  });
  new Counter({
    name: 'lattice_wireguard_dropped_datagrams_total',
    help: 'Datagrams dropped by the WireGuard core, by reason (bad-mac1, replay, decrypt-failed, ...)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(device.drops())) this.inc({ reason }, n);
    },
  });
}

registerDatapathPart('wireguard', startWireGuardPart);
