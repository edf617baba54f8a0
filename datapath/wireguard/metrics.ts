// Per-peer WireGuard statistics as Prometheus metrics, read from the device at scrape time (nothing
// is counted twice and nothing runs per packet). Whoever runs the device registers them once:
//   registerWireGuardMetrics(dp.metrics.registry, () => device)
import type { Registry } from 'prom-client';
// (prom-client's pieces from health/metrics.ts: its index loads node:https, which the datapath avoids)
import { Counter, Gauge } from '../health/metrics.ts';
import type { WireGuardDevice } from './device.ts';

export function registerWireGuardMetrics(registry: Registry, device: () => WireGuardDevice | null): void {
  const registers = [registry];
  const peers = () => device()?.peers() ?? [];
  new Gauge({
    name: 'lattice_wireguard_peer_last_handshake_seconds',
    help: 'Unix time of the last completed handshake with each peer (0 = never)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of peers()) this.set({ peer: p.publicKey }, p.lastHandshakeTime / 1000);
    },
  });
  new Gauge({
    name: 'lattice_wireguard_peer_connected',
    help: '1 while a session with the peer may send, else 0',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of peers()) this.set({ peer: p.publicKey }, p.connected ? 1 : 0);
    },
  });
  new Counter({
    name: 'lattice_wireguard_peer_receive_bytes_total',
    help: 'UDP payload bytes received from each peer (handshakes and transport)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of peers()) this.inc({ peer: p.publicKey }, p.rxBytes);
    },
  });
  new Counter({
    name: 'lattice_wireguard_peer_transmit_bytes_total',
    help: 'UDP payload bytes sent to each peer (handshakes and transport)',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const p of peers()) this.inc({ peer: p.publicKey }, p.txBytes);
    },
  });
  new Counter({
    name: 'lattice_wireguard_dropped_datagrams_total',
    help: 'Datagrams the WireGuard core dropped, by reason (bad-mac1, replay, decrypt-failed, ...)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(device()?.drops() ?? {})) this.inc({ reason }, n);
    },
  });
  const deviceTotal = (name: string, help: string, read: (d: WireGuardDevice) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const d = device();
        if (d !== null) this.inc(read(d));
      },
    });
  deviceTotal(
    'lattice_wireguard_socket_errors_total',
    'Datagrams the UDP socket refused to send, and receive errors (e.g. ICMP port unreachable from a peer)',
    (d) => d.sendErrors,
  );
  deviceTotal(
    'lattice_wireguard_burst_datagrams_total',
    'Datagrams read in bursts straight from the connected socket rather than one by one by Node',
    (d) => d.burstDatagrams,
  );
}
