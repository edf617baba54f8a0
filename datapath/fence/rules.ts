// The Fenced mode's packet filter, as text for iptables-restore / ip6tables-restore. Pure.
//
// In the Pod's network namespace (shared by the agent and the datapath), locally generated
// packets pass the filter table's OUTPUT chain with the sending socket's uid. The fence puts one
// jump at the top of OUTPUT into its own chain, LATTICE-FENCE:
//
//   lo, tcp dport <proxy>            ACCEPT   anyone may reach the datapath's proxy
//   lo, tcp dport <health>           ACCEPT   and its health port
//   ctstate ESTABLISHED,RELATED      ACCEPT   replies on connections already admitted (a forward
//                                              into the agent, a probe answered); a connection
//                                              the fence refused never gets this far
//   owner uid <datapath>             ACCEPT   the datapath dials out for everyone
//   (IPv6) NDP/RS                    ACCEPT   kernel-sent, ownerless, needed by the datapath
//   tcp                              REJECT   with a TCP reset: the agent fails fast, no hang
//   everything else                  REJECT   ICMP port unreachable (UDP, ICMP, raw)
//
// Idempotent: the chain is declared in the restore input, which (with --noflush) creates it or
// flushes it, then refills it; the OUTPUT jump is added only when `-C` says it is missing.

export const FENCE_CHAIN = 'LATTICE-FENCE';

export interface FenceSpec {
  /** the datapath's uid: the only one allowed to open connections that leave the Pod */
  readonly datapathUid: number;
  /** the proxy port on loopback */
  readonly proxyPort: number;
  /** the datapath's health port on loopback */
  readonly healthPort: number;
}

export type Family = 'ipv4' | 'ipv6';

/** Input for `iptables-restore --noflush` (or ip6tables-restore): the fence chain, refilled. */
export function fenceRestoreInput(spec: FenceSpec, family: Family): string {
  const unreachable = family === 'ipv4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
  const c = FENCE_CHAIN;
  return [
    '*filter',
    `:${c} - [0:0]`,
    `-A ${c} -o lo -p tcp --dport ${spec.proxyPort} -j ACCEPT`,
    `-A ${c} -o lo -p tcp --dport ${spec.healthPort} -j ACCEPT`,
    `-A ${c} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A ${c} -m owner --uid-owner ${spec.datapathUid} -j ACCEPT`,
    // IPv6 neighbour/router discovery is sent by the kernel for everyone's packets (no socket
    // owner): without it the datapath's own IPv6 dials could not resolve the next hop
    ...(family === 'ipv6'
      ? ['router-solicitation', 'neighbour-solicitation', 'neighbour-advertisement'].map(
          (t) => `-A ${c} -p ipv6-icmp --icmpv6-type ${t} -j ACCEPT`,
        )
      : []),
    `-A ${c} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${c} -j REJECT --reject-with ${unreachable}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** The OUTPUT → fence jump, as arguments after `-C` (check), `-I` (insert at the top) or `-D`. */
export function jumpRule(): string[] {
  return ['OUTPUT', '-j', FENCE_CHAIN];
}

export function validateFenceSpec(spec: FenceSpec): string | null {
  if (!Number.isInteger(spec.datapathUid) || spec.datapathUid < 1 || spec.datapathUid > 2 ** 32 - 2)
    return `--datapath-uid: must be a non-root uid 1-${2 ** 32 - 2} (got ${spec.datapathUid})`;
  for (const [flag, p] of [
    ['--proxy-port', spec.proxyPort],
    ['--health-port', spec.healthPort],
  ] as const)
    if (!Number.isInteger(p) || p < 1 || p > 65535) return `${flag}: must be a port 1-65535 (got ${p})`;
  return null;
}
