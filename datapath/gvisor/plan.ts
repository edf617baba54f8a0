// gVisor mode, the pure part: which flags it needs, the agent's network (names, addresses, the
// commands that set up its namespace), and the OCI bundle runsc runs the agent from.
//
//   agent netns ──default route──▶ TUN (lt…) ══socat══ UDP on loopback ══▶ datapath netstack (interceptAll)
//                                                                             │ ProxyConnection.startIntercepted
//                                                                             ▼ policy → audit → dialer → relay
//
// The agent's namespace has no other interface than its loopback and the TUN device, so every
// packet it sends off-host reaches the datapath's netstack, which terminates TCP for any
// destination and hands each connection to the same decision/audit/dial code as the proxy.

import { ConfigError } from '../config/settings.ts';

export type AgentRuntime = 'runsc' | 'process';

export interface GvisorSettings {
  readonly rootfs: string;
  /** absolute path inside the rootfs */
  readonly binary: string;
  readonly args: readonly string[];
  /** runsc (gVisor) or a plain process in the namespace (hosts without gVisor; not an isolation boundary) */
  readonly runtime: AgentRuntime;
  readonly uid: number;
}

export const AGENT_UID = 65533;

/** Reads the flags `lattice sandbox start` handed over; a missing or bad one names the flag. */
export function gvisorSettings(
  extra: Readonly<Record<string, string>>,
  args: readonly string[],
): GvisorSettings {
  const mode = extra.mode;
  if (mode !== 'gvisor') throw new ConfigError('--mode', mode, 'must be gvisor (or absent for sidecar mode)');
  const rootfs = extra['agent-rootfs'];
  if (rootfs === undefined || !rootfs.startsWith('/'))
    throw new ConfigError('--agent-rootfs', rootfs ?? null, 'gVisor mode needs an absolute directory');
  const binary = extra['agent-binary'];
  if (binary === undefined || !binary.startsWith('/'))
    throw new ConfigError(
      '--agent-binary',
      binary ?? null,
      'gVisor mode needs an absolute path inside the rootfs',
    );
  const runtime = extra['agent-runtime'] ?? 'runsc';
  if (runtime !== 'runsc' && runtime !== 'process')
    throw new ConfigError('--agent-runtime', runtime, 'must be runsc or process');
  return { rootfs, binary, args, runtime, uid: AGENT_UID };
}

export interface AgentNetwork {
  readonly netns: string;
  readonly tun: string;
  readonly mtu: number;
  readonly agentV4: string;
  readonly stackV4: string;
  readonly agentV6: string;
  readonly stackV6: string;
}

/**
 * Names and addresses. Link-local IPv4 and a ULA for IPv6, as /32 and /128 with only a default
 * route: no destination is shadowed by an on-link subnet, so 10/8 or the metadata address reach
 * the datapath (and its policy) like any other.
 */
export function agentNetwork(suffix: string): AgentNetwork {
  if (!/^[0-9a-f]{8}$/.test(suffix)) throw new Error(`network suffix must be 8 hex digits (got ${suffix})`);
  return {
    netns: `lattice-agent-${suffix}`,
    tun: `lt${suffix}`, // ≤ 15 characters (IFNAMSIZ)
    mtu: 1500,
    agentV4: '169.254.77.2',
    stackV4: '169.254.77.1',
    agentV6: 'fd7a:4c41:5454::2',
    stackV6: 'fd7a:4c41:5454::1',
  };
}

/** Commands (argv) run after the TUN device was moved into the agent's namespace. */
export function namespaceSetup(n: AgentNetwork): string[][] {
  const x = (...a: string[]) => ['ip', 'netns', 'exec', n.netns, ...a];
  return [
    x('ip', 'link', 'set', 'lo', 'up'),
    x('ip', 'link', 'set', n.tun, 'mtu', String(n.mtu)),
    x('ip', 'addr', 'add', `${n.agentV4}/32`, 'dev', n.tun),
    x('ip', '-6', 'addr', 'add', `${n.agentV6}/128`, 'dev', n.tun, 'nodad'),
    x('ip', 'link', 'set', n.tun, 'up'),
    x('ip', 'route', 'add', 'default', 'dev', n.tun),
    x('ip', '-6', 'route', 'add', 'default', 'dev', n.tun),
  ];
}

/**
 * The OCI runtime spec runsc runs the agent from: the rootfs read-only, the agent as a non-root
 * user with no capabilities and no new privileges, a tmpfs /tmp, an environment we choose (nothing
 * of the datapath's: no token, no credentials dir), and no network namespace of its own — with
 * `runsc --network=host` the agent uses the namespace runsc runs in, the one routed into the TUN.
 */
export function ociSpec(g: GvisorSettings, hostname: string): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: g.uid, gid: g.uid },
      args: [g.binary, ...g.args],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'HOME=/tmp', `HOSTNAME=${hostname}`],
      cwd: '/',
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: g.rootfs, readonly: true },
    hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'],
      },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
    },
  };
}

/**
 * `runsc` argv for one agent run (inside the agent namespace). --ignore-cgroups: `ip netns exec`
 * mounts a fresh /sys without the cgroup hierarchy, and the agent already lives in the datapath
 * container's cgroup (the Pod's limits hold for both).
 */
export function runscArgv(stateDir: string, bundle: string, id: string): string[] {
  return [
    'runsc',
    '--network=host',
    '--ignore-cgroups',
    `--root=${stateDir}`,
    'run',
    `--bundle=${bundle}`,
    id,
  ];
}
