// The flags of `lattice sandbox start`: one table gives each flag's name, argument, help text and how
// it sets the settings, so parsing and --help can never disagree. Pure.
// The original tool's flags keep their names and meanings; the rest are additive.

import { isLogLevel } from '../cli/log.ts';
import {
  ConfigError,
  parseAction,
  parseDuration,
  parseForward,
  parseHostPort,
  parsePositiveInt,
  parseRules,
  type SettingsPatch,
} from './settings.ts';

interface FlagDef {
  readonly name: string;
  /** argument placeholder, or null for a boolean flag */
  readonly arg: string | null;
  readonly help: string;
  readonly repeatable?: boolean;
  apply(p: SettingsPatch, value: string, where: string): void;
}

const push = <T>(list: readonly T[] | undefined, ...items: T[]): T[] => [...(list ?? []), ...items];

export const START_FLAGS: readonly FlagDef[] = [
  {
    name: 'name',
    arg: 'NAME',
    help: 'sandbox (agent) name; names the audit file and the records',
    apply: (p, v) => (p.name = v),
  },
  {
    name: 'server-url',
    arg: 'URL',
    help: 'control-plane URL; without it the datapath runs standalone (no enrollment, no overlay)',
    apply: (p, v, w) => {
      if (!/^https?:\/\/[^\s]+$/.test(v)) throw new ConfigError(w, v, 'expected an http:// or https:// URL');
      p.serverUrl = v;
    },
  },
  {
    name: 'token',
    arg: 'TOKEN',
    help: 'one-time enrollment token (or env LATTICE_TOKEN, preferred: arguments show in ps); not needed when credentials exist',
    apply: (p, v) => (p.token = v),
  },
  {
    name: 'proxy-addr',
    arg: 'HOST:PORT',
    help: 'SOCKS5 + HTTP proxy listener (default 127.0.0.1:1080)',
    apply: (p, v, w) => (p.proxyAddr = parseHostPort(w, v)),
  },
  {
    name: 'forward',
    arg: 'PORT:HOST:PORT',
    repeatable: true,
    help: 'inbound forward: peers connecting to PORT reach HOST:PORT (repeatable; allowFrom via --config)',
    apply: (p, v, w) => (p.forwards = push(p.forwards, parseForward(w, v))),
  },
  {
    name: 'egress-allow',
    arg: 'RULE[,RULE]',
    repeatable: true,
    help: 'allow rule(s): CIDR, CIDR:PORT[-PORT], [IPv6/N]:PORT, host[:PORT], *.suffix[:PORT]',
    apply: (p, v, w) => (p.allowRules = push(p.allowRules, ...parseRules(w, v, 'allow'))),
  },
  {
    name: 'egress-deny',
    arg: 'RULE[,RULE]',
    repeatable: true,
    help: 'deny rule(s), same syntax; the most specific rule wins, deny wins a tie',
    apply: (p, v, w) => (p.denyRules = push(p.denyRules, ...parseRules(w, v, 'deny'))),
  },
  {
    name: 'egress-default-deny',
    arg: null,
    help: 'deny what no rule matches (the default)',
    apply: (p) => (p.defaultAction = 'deny'),
  },
  {
    name: 'egress-default',
    arg: 'allow|deny',
    help: 'action when no rule matches (default deny)',
    apply: (p, v, w) => (p.defaultAction = parseAction(w, v)),
  },
  {
    name: 'health-addr',
    arg: 'HOST:PORT',
    help: 'health, status, metrics and admin listener (default 0.0.0.0:15021)',
    apply: (p, v, w) => (p.healthAddr = parseHostPort(w, v)),
  },
  {
    name: 'audit-path',
    arg: 'FILE',
    help: 'audit JSONL file (default /tmp/lattice-audit-<name>.jsonl)',
    apply: (p, v) => (p.auditPath = v),
  },
  {
    name: 'audit-max-bytes',
    arg: 'BYTES',
    help: 'rotate the audit file when it would exceed this size (default 64 MiB)',
    apply: (p, v, w) => (p.auditMaxBytes = parsePositiveInt(w, v)),
  },
  {
    name: 'audit-max-files',
    arg: 'N',
    help: 'rotated audit files kept (default 5)',
    apply: (p, v, w) => (p.auditMaxFiles = parsePositiveInt(w, v, 1000)),
  },
  {
    name: 'audit-fail-open',
    arg: null,
    help: 'keep allowing connections when the audit file cannot be written (default: refuse them)',
    apply: (p) => (p.auditFailClosed = false),
  },
  {
    name: 'config',
    arg: 'FILE',
    help: 'settings file (YAML or JSON); re-read on SIGHUP',
    apply: (p, v) => (p.configPath = v),
  },
  {
    name: 'log-level',
    arg: 'LEVEL',
    help: 'debug, info, warn or error (default info)',
    apply: (p, v, w) => {
      if (!isLogLevel(v)) throw new ConfigError(w, v, 'must be debug, info, warn or error');
      p.logLevel = v;
    },
  },
  {
    name: 'handshake-timeout',
    arg: 'DURATION',
    help: 'time for a client to send its request (default 10s)',
    apply: (p, v, w) => (p.handshakeTimeoutMs = parseDuration(w, v)),
  },
  {
    name: 'dial-timeout',
    arg: 'DURATION',
    help: 'time to resolve and to connect, each (default 10s)',
    apply: (p, v, w) => (p.dialTimeoutMs = parseDuration(w, v)),
  },
  {
    name: 'idle-timeout',
    arg: 'DURATION',
    help: 'close a relayed connection idle this long (default 1h)',
    apply: (p, v, w) => (p.idleTimeoutMs = parseDuration(w, v)),
  },
  {
    name: 'max-connections',
    arg: 'N',
    help: 'client connections open at once (default 4096)',
    apply: (p, v, w) => (p.maxConnections = parsePositiveInt(w, v, 1_000_000)),
  },
  {
    name: 'drain-timeout',
    arg: 'DURATION',
    help: 'on SIGTERM, wait this long for connections to finish (default 10s)',
    apply: (p, v, w) => (p.drainTimeoutMs = parseDuration(w, v)),
  },
  {
    name: 'hosts-file',
    arg: 'FILE',
    help: 'resolve names only from this hosts(5) file; other names are "not found" (tests, air-gapped)',
    apply: (p, v) => (p.hostsFile = v),
  },
  {
    name: 'admin-token-file',
    arg: 'FILE',
    help: 'bearer token for POST /admin/config on the health port (or env LATTICE_ADMIN_TOKEN); none = admin off',
    apply: (p, v) => (p.adminTokenFile = v),
  },
  {
    name: 'agent-arg',
    arg: 'ARG',
    repeatable: true,
    help: 'an argument for the agent binary, in order (gVisor mode)',
    apply: (p, v) => (p.agentArgs = push(p.agentArgs, v)),
  },
  // Flags of the WireGuard and gVisor parts, accepted here and handed to them.

  ...(
    [
      [
        'mode',
        'gvisor',
        'gvisor: run --agent-binary in gVisor behind the datapath (docs/gvisor.md); absent: sidecar',
      ],
      ['agent-rootfs', 'DIR', 'gVisor mode: the agent root filesystem (mounted read-only)'],
      ['agent-binary', 'PATH', 'gVisor mode: the agent program, an absolute path inside --agent-rootfs'],
      [
        'agent-runtime',
        'runsc|process',
        'gVisor mode: runsc (default) or a plain process (no gVisor; same network path)',
      ],
      ['wg-port', 'VALUE', 'passed to the WireGuard part'],
      ['wg-config', 'VALUE', 'passed to the WireGuard part'],
    ] as const
  ).map(
    ([name, arg, help]): FlagDef => ({
      name,
      arg,
      help,
      apply: (p, v) => (p.extra = { ...(p.extra ?? {}), [name]: v }),
    }),
  ),
];

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `--flag value` and `--flag=value`. Returns the patch, or 'help' when --help was given. */
export function parseStartFlags(argv: readonly string[]): SettingsPatch | 'help' {
  const patch: SettingsPatch = {};
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return 'help';
    if (!a.startsWith('--'))
      throw new UsageError(`unexpected argument ${JSON.stringify(a)} (flags start with --)`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const def = START_FLAGS.find((f) => f.name === name);
    if (def === undefined) throw new UsageError(`unknown flag --${name} (see lattice sandbox start --help)`);
    if (!def.repeatable && seen.has(name)) throw new UsageError(`--${name} given twice`);
    seen.add(name);
    let value: string;
    if (def.arg === null) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      value = '';
    } else if (eq >= 0) value = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value (${def.arg})`);
      value = argv[++i];
    }
    def.apply(patch, value, `--${name}`);
  }
  return patch;
}

export function startUsage(): string {
  const lines = [
    'usage: lattice sandbox start --name NAME [flags]',
    '',
    'Runs the datapath: proxy, egress policy, audit, forwards, health.',
    '',
    'flags:',
  ];
  for (const f of START_FLAGS) {
    const left = `  --${f.name}${f.arg === null ? '' : ` ${f.arg}`}`;
    lines.push(`${left.padEnd(34)} ${f.help}${f.repeatable ? ' (repeatable)' : ''}`);
  }
  lines.push(
    '',
    'Signals: SIGHUP re-reads --config; SIGTERM/SIGINT drain and exit 0; a second one exits at once.',
  );
  return `${lines.join('\n')}\n`;
}
