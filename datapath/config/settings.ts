// The datapath's settings: one typed object built from the command line and an optional config file
// (YAML or JSON). Pure: parsing and validation only; reading files is in file.ts.
// Every error names where the bad value came from (the flag, or the key in the file) and the value.

import {
  type Action,
  parsePort,
  parseRule,
  type Rule,
  RuleError,
  type RuleSpec,
  ruleFromSpec,
  splitRuleList,
} from '../policy/rule.ts';

export class ConfigError extends Error {
  constructor(where: string, value: unknown, why: string) {
    super(`${where}: ${why} (got ${JSON.stringify(value)})`);
    this.name = 'ConfigError';
  }
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ForwardSpec {
  /** the port peers connect to (on the overlay IP; in standalone mode on `listen`) */
  readonly port: number;
  readonly targetHost: string;
  readonly targetPort: number;
  /** peer names or CIDRs allowed to use it; empty = every peer */
  readonly allowFrom: readonly string[];
  /** standalone listen address (overridden by the overlay when it is up) */
  readonly listen: string;
}

export interface EgressSettings {
  readonly defaultAction: Action;
  readonly rules: readonly Rule[];
}

/** Everything a run of `lattice sandbox start` is configured with. */
export interface Settings {
  readonly name: string;
  readonly serverUrl: string | null;
  readonly token: string | null;
  readonly proxyAddr: HostPort;
  readonly healthAddr: HostPort;
  readonly auditPath: string;
  readonly auditMaxBytes: number;
  readonly auditMaxFiles: number;
  readonly auditFailClosed: boolean;
  readonly forwards: readonly ForwardSpec[];
  readonly egress: EgressSettings;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly handshakeTimeoutMs: number;
  readonly dialTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly drainTimeoutMs: number;
  readonly hostsFile: string | null;
  readonly adminTokenFile: string | null;
  readonly configPath: string | null;
  /** accepted and kept for the WireGuard/gVisor parts; not used by the core */
  readonly extra: Readonly<Record<string, string>>;
  /** --agent-arg values in order (gVisor mode: arguments for the agent binary) */
  readonly agentArgs: readonly string[];
}

/** A partial settings object as given by one source; lists are appended, scalars override. */
export type SettingsPatch = {
  -readonly [K in keyof Settings]?: Settings[K];
} & { allowRules?: Rule[]; denyRules?: Rule[]; specRules?: Rule[]; defaultAction?: Action };

export const DEFAULTS = {
  proxyAddr: { host: '127.0.0.1', port: 1080 },
  healthAddr: { host: '0.0.0.0', port: 15021 },
  auditMaxBytes: 64 * 1024 * 1024,
  auditMaxFiles: 5,
  handshakeTimeoutMs: 10_000,
  dialTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
  maxConnections: 4096,
  drainTimeoutMs: 10_000,
  forwardListen: '127.0.0.1',
} as const;

export function parseHostPort(where: string, value: string): HostPort {
  let host: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') throw new ConfigError(where, value, 'expected [IPv6]:PORT');
    host = value.slice(1, close);
    portText = value.slice(close + 2);
  } else if (value.startsWith(':')) {
    host = '0.0.0.0';
    portText = value.slice(1);
  } else {
    const c = value.lastIndexOf(':');
    if (c <= 0) throw new ConfigError(where, value, 'expected HOST:PORT');
    host = value.slice(0, c);
    portText = value.slice(c + 1);
  }
  // port 0 = any free port (tests); the bound port is printed at start and shown in /status
  if (portText === '0') return { host, port: 0 };
  const port = parsePort(portText);
  if (port === null) throw new ConfigError(where, value, 'port must be 0-65535');
  return { host, port };
}

/** `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds. */
export function parseDuration(where: string, value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0)
      throw new ConfigError(where, value, 'must be a positive duration');
    return value * 1000;
  }
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new ConfigError(where, value, 'expected a duration like 500ms, 10s, 2m or 1h');
  const n = Number(m[1]);
  const ms = n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (ms <= 0) throw new ConfigError(where, value, 'must be positive');
  return ms;
}

export function parsePositiveInt(
  where: string,
  value: string | number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = typeof value === 'number' ? value : /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new ConfigError(where, value, `must be an integer 1-${max}`);
  return n;
}

/** `--forward PORT:HOST:PORT` (HOST may be [IPv6]). */
export function parseForward(
  where: string,
  value: string,
  allowFrom: readonly string[] = [],
  listen: string = DEFAULTS.forwardListen,
): ForwardSpec {
  const m = /^([0-9]{1,5}):(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(value);
  if (!m) throw new ConfigError(where, value, 'expected PORT:HOST:PORT, e.g. 8080:127.0.0.1:8080');
  const port = parsePort(m[1]);
  const targetPort = parsePort(m[3]);
  if (port === null || targetPort === null) throw new ConfigError(where, value, 'ports must be 1-65535');
  const targetHost = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  return { port, targetHost, targetPort, allowFrom, listen };
}

export function parseRules(where: string, value: string, action: Action): Rule[] {
  try {
    return splitRuleList(value).map((r) => parseRule(r, action));
  } catch (e) {
    if (e instanceof RuleError) throw new ConfigError(where, value, e.message);
    throw e;
  }
}

export function parseRuleSpec(where: string, spec: unknown): Rule {
  try {
    return ruleFromSpec(spec as RuleSpec);
  } catch (e) {
    if (e instanceof RuleError) throw new ConfigError(where, spec, e.message);
    throw e;
  }
}

export function parseAction(where: string, value: string): Action {
  const a = value.toLowerCase();
  if (a !== 'allow' && a !== 'deny') throw new ConfigError(where, value, 'must be allow or deny');
  return a;
}

/** Merges sources (later ones override scalars; rule and forward lists are concatenated) and fills defaults. */
export function resolveSettings(...patches: SettingsPatch[]): Settings {
  const p: SettingsPatch = {};
  const allow: Rule[] = [];
  const deny: Rule[] = [];
  const spec: Rule[] = [];
  const forwards: ForwardSpec[] = [];
  const extra: Record<string, string> = {};
  const agentArgs: string[] = [];
  for (const x of patches) {
    for (const [k, v] of Object.entries(x)) {
      if (v === undefined) continue;
      if (k === 'allowRules') allow.push(...(v as Rule[]));
      else if (k === 'denyRules') deny.push(...(v as Rule[]));
      else if (k === 'specRules') spec.push(...(v as Rule[]));
      else if (k === 'forwards') forwards.push(...(v as ForwardSpec[]));
      else if (k === 'extra') Object.assign(extra, v);
      else if (k === 'agentArgs') agentArgs.push(...(v as string[]));
      else (p as Record<string, unknown>)[k] = v;
    }
  }
  const name = p.name ?? '';
  if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(name)) {
    throw new ConfigError(
      '--name',
      name,
      'a sandbox name (lower-case letters, digits, "-" and ".", at most 63) is required',
    );
  }
  const seen = new Set<number>();
  for (const f of forwards) {
    if (seen.has(f.port)) throw new ConfigError('--forward', f.port, 'two forwards on the same port');
    seen.add(f.port);
  }
  return {
    name,
    serverUrl: p.serverUrl ?? null,
    token: p.token ?? null,
    proxyAddr: p.proxyAddr ?? DEFAULTS.proxyAddr,
    healthAddr: p.healthAddr ?? DEFAULTS.healthAddr,
    auditPath: p.auditPath ?? `/tmp/lattice-audit-${name}.jsonl`,
    auditMaxBytes: p.auditMaxBytes ?? DEFAULTS.auditMaxBytes,
    auditMaxFiles: p.auditMaxFiles ?? DEFAULTS.auditMaxFiles,
    auditFailClosed: p.auditFailClosed ?? true,
    forwards,
    egress: { defaultAction: p.defaultAction ?? 'deny', rules: [...allow, ...deny, ...spec] },
    logLevel: p.logLevel ?? 'info',
    handshakeTimeoutMs: p.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    dialTimeoutMs: p.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
    idleTimeoutMs: p.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    maxConnections: p.maxConnections ?? DEFAULTS.maxConnections,
    drainTimeoutMs: p.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
    hostsFile: p.hostsFile ?? null,
    adminTokenFile: p.adminTokenFile ?? null,
    configPath: p.configPath ?? null,
    extra,
    agentArgs,
  };
}
