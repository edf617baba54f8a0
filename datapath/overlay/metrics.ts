// The netstack's counters on the datapath's Prometheus registry. They are read from the stack's own
// counters when scraped (collect), so the packet path never touches prom-client.
import type { Registry } from 'prom-client';
import { Counter, Gauge } from '../health/metrics.ts';
import type { Netstack, NetstackCounters } from '../netstack/stack.ts';

type Scalar = Exclude<keyof NetstackCounters, 'drops' | 'tcpActive'>;

const COUNTERS: [Scalar, string, string][] = [
  [
    'packetsIn',
    'lattice_netstack_packets_received_total',
    'IP packets the netstack received from the overlay',
  ],
  ['packetsOut', 'lattice_netstack_packets_sent_total', 'IP packets the netstack sent into the overlay'],
  ['tcpSegmentsIn', 'lattice_netstack_tcp_segments_received_total', 'TCP segments received'],
  ['tcpSegmentsOut', 'lattice_netstack_tcp_segments_sent_total', 'TCP segments sent'],
  ['tcpRetransmits', 'lattice_netstack_tcp_retransmits_total', 'TCP segments retransmitted'],
  ['tcpTimeouts', 'lattice_netstack_tcp_timeouts_total', 'TCP retransmission timeouts'],
  ['tcpResetsSent', 'lattice_netstack_tcp_resets_sent_total', 'RSTs sent for segments to closed ports'],
  [
    'tcpConnectionsOpened',
    'lattice_netstack_tcp_connections_opened_total',
    'TCP connections opened (active)',
  ],
  [
    'tcpConnectionsAccepted',
    'lattice_netstack_tcp_connections_accepted_total',
    'TCP connections accepted (passive)',
  ],
  [
    'tcpConnectionsFailed',
    'lattice_netstack_tcp_connections_failed_total',
    'TCP connections ended by reset or timeout',
  ],
  ['udpIn', 'lattice_netstack_udp_datagrams_received_total', 'UDP datagrams received'],
  ['udpOut', 'lattice_netstack_udp_datagrams_sent_total', 'UDP datagrams sent'],
  ['icmpEchoReplies', 'lattice_netstack_icmp_echo_replies_total', 'ICMP echo requests answered'],
];

/** Registers the netstack metrics; `stack()` returns the current stack (or null when the overlay is down). */
export function registerNetstackMetrics(registry: Registry, stack: () => Netstack | null): void {
  const registers = [registry];
  let snap: NetstackCounters | null = null;
  const take = () => {
    const s = stack();
    snap = s === null ? null : s.snapshot();
  };
  for (const [key, name, help] of COUNTERS) {
    let last = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (key === 'packetsIn') take(); // first metric collected takes the snapshot for all
        const v = snap?.[key] ?? last;
        if (v > last) this.inc(v - last);
        last = v;
      },
    });
  }
  new Gauge({
    name: 'lattice_netstack_tcp_active_connections',
    help: 'TCP connections the netstack holds (all states, TIME_WAIT included)',
    registers,
    collect() {
      this.set(stack()?.connectionCount ?? 0);
    },
  });
  const lastDrops = new Map<string, number>();
  new Counter({
    name: 'lattice_netstack_dropped_packets_total',
    help: 'Packets the netstack dropped, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      const drops = stack()?.snapshot().drops ?? {};
      for (const [reason, v] of Object.entries(drops)) {
        const prev = lastDrops.get(reason) ?? 0;
        if (v > prev) this.inc({ reason }, v - prev);
        lastDrops.set(reason, v);
      }
    },
  });
}
