// What every overlay part (wg-config here, enrollment in datapath/enroll/) shows about its netstack:
// the `netstack` section of /status and the `lattice_netstack_*` metrics, plus the TCP settings
// overlay connections use. One place, so both parts report the same way.
import type { Datapath } from '../cli/parts.ts';
import type { ForwardSpec } from '../config/settings.ts';
import { Forwarder } from '../forward/forwarder.ts';
import { NetstackRuntime } from '../netstack/runtime.ts';
import type { Netstack, NetstackOptions } from '../netstack/stack.ts';
import type { WireGuardDevice } from '../wireguard/device.ts';
import { OverlayListener } from './listener.ts';
import { registerNetstackMetrics } from './metrics.ts';

/**
 * TCP options for overlay connections: keepalive notices a peer that vanished within ~20 s even on
 * a connection that only receives (10 s idle, then 3 probes 3 s apart).
 */
export const OVERLAY_TCP: NetstackOptions['tcp'] = {
  keepalive: { idleMs: 10_000, intervalMs: 3_000, probes: 3 },
  // Stretch ACKs (TcpConfig.ackStretch): with several streams sharing each event-loop turn, an ACK
  // per stream and turn was twice the ACKs wireproxy sends, and each one is work for the peer's
  // WireGuard and TCP too (docs/performance.md, overlay fourth round).
  ackStretch: 16,
};

/** Received bulk data held per stream while it keeps arriving (TcpStreamOptions.holdBytes). */
export const OVERLAY_HOLD_BYTES = 64 * 1024;

/**
 * The netstack joined to a WireGuard device, as every overlay part uses it: packets out through the
 * device, decrypted packets in. The device copies what it encrypts (so the stack builds segments in
 * one reused buffer) and delivers only packets whose AEAD tag verified (so the stack does not
 * checksum them again: NetstackOptions.linkAuthenticated).
 */
export function netstackOverDevice(
  device: WireGuardDevice,
  addresses: Uint8Array[],
  mtu: number,
): NetstackRuntime {
  const runtime = new NetstackRuntime({
    addresses,
    mtu,
    send: (p) => {
      device.send(p);
    },
    sendCopies: true,
    linkAuthenticated: true,
    tcp: OVERLAY_TCP,
    stream: { holdBytes: OVERLAY_HOLD_BYTES },
  });
  // The device's packets are views of Node's datagram Buffers already: no new view per packet.
  device.onPacket((p) =>
    runtime.receive(Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength)),
  );
  return runtime;
}

/** Adds the netstack's /status section and metrics; `stack()` returns null once the overlay is down. */
export function exposeNetstack(dp: Datapath, stack: () => Netstack | null): void {
  dp.status.section('netstack', () => stack()?.snapshot() ?? null);
  // The metrics are registered once per process (a second overlay part would reuse them).
  if (dp.metrics.registry.getSingleMetric('lattice_netstack_packets_received_total') === undefined) {
    registerNetstackMetrics(dp.metrics.registry, stack);
  }
}

/**
 * Starts every forward on each overlay address. With an overlay these are the only forward
 * listeners (the core binds forwards locally only when standalone). `peerName` names the peer an
 * overlay source address belongs to, for allowFrom by name.
 */
export async function startOverlayForwards(
  dp: Datapath,
  runtime: NetstackRuntime,
  addresses: readonly Uint8Array[],
  peerName: (source: Uint8Array) => string | null,
): Promise<Forwarder[]> {
  const forwarders: Forwarder[] = [];
  for (const f of dp.settings.forwards as readonly ForwardSpec[]) {
    for (const a of addresses) {
      const fw = new Forwarder(f, dp.deps, dp.dialer, dp.resolver);
      await fw.start(new OverlayListener(runtime, a, f.port, peerName));
      forwarders.push(fw);
    }
  }
  return forwarders;
}
