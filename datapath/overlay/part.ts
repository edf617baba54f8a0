// The overlay part of `lattice sandbox start`: with `--wg-config FILE` (wg-quick format) it opens the
// WireGuard device (`--wg-port` overrides ListenPort), puts the userspace netstack on the interface
// addresses, routes dials to the peers' allowed IPs through it, listens for every forward on the
// overlay address, and adds the netstack and peers to /status and /metrics.
// Without --wg-config it does nothing (standalone datapath, or enrollment brings the overlay).

import { type Datapath, type RunningPart, registerDatapathPart } from '../cli/parts.ts';
import type { DialRoute } from '../dial/dialer.ts';
import { formatAddress } from '../netstack/ip/address.ts';
import type { Netstack } from '../netstack/stack.ts';
import { type IPAddress, inPrefix, normalise } from '../policy/address.ts';
import { parseRule } from '../policy/rule.ts';
import { WireGuardDevice } from '../wireguard/device.ts';
import { registerWireGuardMetrics } from '../wireguard/metrics.ts';
import { loadWgQuickConfig } from '../wireguard/wg-quick-file.ts';
import { OverlayDialer } from './dialer.ts';
import { exposeNetstack, netstackOverDevice, startOverlayForwards } from './expose.ts';

export class OverlayConfigError extends Error {
  override name = 'OverlayConfigError';
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 0 || n > 65535)
    throw new OverlayConfigError(`--wg-port ${text}: not a port`);
  return n;
}

function cidrOf(text: string): { network: IPAddress; prefix: number } {
  const r = parseRule(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`, 'allow');
  if (r.target.kind !== 'cidr') throw new OverlayConfigError(`allowed IP ${text} is not a CIDR`);
  return { network: r.target.network, prefix: r.target.prefix };
}

export async function startOverlay(dp: Datapath): Promise<RunningPart | undefined> {
  const file = dp.settings.extra['wg-config'];
  if (file === undefined) {
    if (dp.settings.extra['wg-port'] !== undefined) dp.log.warn('--wg-port without --wg-config: no overlay');
    return undefined;
  }
  const loaded = await loadWgQuickConfig(file);
  for (const w of loaded.warnings) dp.log.warn(w);
  const portFlag = dp.settings.extra['wg-port'];
  const listenPort = portFlag !== undefined ? parsePort(portFlag) : loaded.device.listenPort;
  const addresses = loaded.config.addresses.map((c) => Buffer.from(c.address));
  if (addresses.length === 0)
    throw new OverlayConfigError(`${file}: [Interface] Address is required for the netstack`);
  const mtu = loaded.config.mtu ?? 1420;
  const device = await WireGuardDevice.open({ ...loaded.device, listenPort, mtu });
  const runtime = netstackOverDevice(device, addresses, mtu);

  // Dial routes: one per peer, claiming its allowed IPs.
  const routes: DialRoute[] = loaded.config.peers.map((peer) => {
    const name = `overlay:${peerLabel(peer.publicKey)}`;
    const cidrs = peer.allowedIps.map(cidrOf);
    return {
      name,
      matches: (a: IPAddress) => {
        const n = normalise(a).address;
        return cidrs.some((c) => inPrefix(n, c.network, c.prefix));
      },
      dialer: new OverlayDialer(runtime, name),
    };
  });
  dp.dialer.setRoutes(routes);

  // No netmap here, so no peer names: allowFrom matches these peers by CIDR.
  const forwarders = await startOverlayForwards(dp, runtime, addresses, () => null);

  dp.status.section('overlay', () => ({
    listenPort: device.port,
    publicKey: device.publicKey,
    addresses: loaded.config.addresses.map((c) => `${formatAddress(c.address)}/${c.prefix}`),
    peers: device.peers(),
    wireguardDrops: device.drops(),
    forwards: forwarders.map((f) => ({ port: f.spec.port, listen: f.bound, ...f.counters })),
  }));
  let stack: Netstack | null = runtime.stack;
  let wg: WireGuardDevice | null = device;
  exposeNetstack(dp, () => stack);
  registerWireGuardMetrics(dp.metrics.registry, () => wg);
  dp.status.readiness('overlay', () => ({ ready: true, detail: `wireguard on udp ${device.port}` }));
  dp.log.info('overlay up', {
    wgPort: device.port,
    peers: routes.map((r) => r.name),
    forwards: forwarders.length,
  });

  return {
    async stop() {
      for (const f of forwarders) await f.stopAccepting();
      dp.dialer.setRoutes([]);
      runtime.close();
      stack = null;
      wg = null;
      await device.close();
    },
  };
}

function peerLabel(publicKey: Buffer): string {
  // wg-quick files name no peers; the start of the public key is what `wg show` users recognise.
  return publicKey.toString('base64').slice(0, 8);
}

registerDatapathPart('overlay', startOverlay);
