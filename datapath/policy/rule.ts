// Egress rules: their text syntax (compatible with the original tool's flags) and the object form the
// config file and the LatticeSandbox spec use. Pure: no I/O.
//
//   10.0.0.0/8            CIDR, any port              1.2.3.4          one address (/32, /128)
//   0.0.0.0/0:443         CIDR and one port           10.0.0.0/8:80-90 CIDR and a port range
//   [2001:db8::/32]:443   IPv6 CIDR with a port       2001:db8::/32    IPv6 CIDR, any port
//   pypi.org:443          exact host name             *.pypi.org:443   any name strictly below pypi.org

import {
  formatAddress,
  type IPAddress,
  maskAddress,
  normalise,
  parseIPv4Loose,
  parseIPv6,
  sameAddress,
} from './address.ts';

export type Action = 'allow' | 'deny';
export type PortRange = readonly [number, number];

export type RuleTarget =
  | { readonly kind: 'cidr'; readonly network: IPAddress; readonly prefix: number }
  | { readonly kind: 'host'; readonly name: string }
  | { readonly kind: 'wildcard'; readonly suffix: string };

export interface Rule {
  /** canonical text, used as the rule's name in audit records and metrics: `allow 10.0.0.0/8:443` */
  readonly text: string;
  readonly action: Action;
  readonly target: RuleTarget;
  /** null = every port */
  readonly ports: readonly PortRange[] | null;
  /** epoch ms after which the rule no longer matches; null = never expires */
  readonly expiresAt: number | null;
}

/** A rule that cannot be parsed; `value` is the offending text so messages can name it. */
export class RuleError extends Error {
  readonly value: string;
  constructor(value: string, why: string) {
    super(`invalid egress rule ${JSON.stringify(value)}: ${why}`);
    this.name = 'RuleError';
    this.value = value;
  }
}

/** The object form (config file, CRD): exactly one of cidr/host, optional ports, action, expiry. */
export interface RuleSpec {
  cidr?: string;
  host?: string;
  ports?: readonly (string | number)[];
  action?: string;
  expiresAt?: string;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Lower-cases a host name, drops one trailing dot, and checks it is a syntactically valid DNS name
 * whose last label is not numeric (a numeric last label would make it an address spelling).
 * Returns null if it is not a valid name.
 */
export function canonicalHostName(name: string): string | null {
  let n = name.toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (n.length === 0 || n.length > 253) return null;
  const labels = n.split('.');
  for (const l of labels) if (!LABEL.test(l)) return null;
  const last = labels[labels.length - 1];
  if (/^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last)) return null;
  return n;
}

export function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const n = Number.parseInt(text, 10);
  return n >= 1 && n <= 65535 ? n : null;
}

function parsePortSpec(text: string, whole: string): PortRange {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (!m) throw new RuleError(whole, `port ${JSON.stringify(text)} is not a port or a range like 8000-9000`);
  const lo = parsePort(m[1]);
  const hi = m[2] === undefined ? lo : parsePort(m[2]);
  if (lo === null || hi === null)
    throw new RuleError(whole, `port ${JSON.stringify(text)} is outside 1-65535`);
  if (hi < lo) throw new RuleError(whole, `port range ${JSON.stringify(text)} is reversed`);
  return [lo, hi];
}

function parseCidr(text: string, whole: string): RuleTarget {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const isV6 = addrText.includes(':');
  // Rules are written by people: IPv4 must be a plain dotted quad here (no `127.1` shorthand).
  const addr = isV6
    ? parseIPv6(addrText)
    : /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(addrText)
      ? parseIPv4Loose(addrText)
      : null;
  if (addr === null) throw new RuleError(whole, `${JSON.stringify(addrText)} is not an IP address`);
  const max = addr.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number.parseInt(p, 10) > max) {
      throw new RuleError(whole, `prefix length ${JSON.stringify(p)} must be 0-${max}`);
    }
    prefix = Number.parseInt(p, 10);
  }
  if (!sameAddress(maskAddress(addr, prefix), addr)) {
    throw new RuleError(
      whole,
      `${text} has bits set past the prefix (did you mean ${formatAddress(maskAddress(addr, prefix))}/${prefix}?)`,
    );
  }
  // An IPv4-mapped network is the IPv4 network: addresses are normalised the same way before matching.
  if (addr.family === 6 && prefix >= 96) {
    const n = normalise(addr);
    if (n.address.family === 4 && n.embedded === null) {
      return { kind: 'cidr', network: n.address, prefix: prefix - 96 };
    }
  }
  return { kind: 'cidr', network: addr, prefix };
}

function parseTarget(text: string, whole: string): RuleTarget {
  if (text.length === 0) throw new RuleError(whole, 'empty');
  if (/^[0-9.]+(\/[0-9]+)?$/.test(text) || text.includes(':')) return parseCidr(text, whole);
  if (text.startsWith('*.')) {
    const suffix = canonicalHostName(text.slice(2));
    if (suffix === null) throw new RuleError(whole, `${JSON.stringify(text)} is not a valid wildcard host`);
    return { kind: 'wildcard', suffix };
  }
  if (text.includes('*')) throw new RuleError(whole, 'a wildcard is only allowed as a leading "*."');
  const name = canonicalHostName(text);
  if (name === null)
    throw new RuleError(whole, `${JSON.stringify(text)} is neither a CIDR nor a valid host name`);
  return { kind: 'host', name };
}

function targetText(t: RuleTarget): string {
  if (t.kind === 'host') return t.name;
  if (t.kind === 'wildcard') return `*.${t.suffix}`;
  return `${formatAddress(t.network)}/${t.prefix}`;
}

function portsText(p: readonly PortRange[] | null): string {
  if (p === null) return '';
  return p.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

function makeRule(
  action: Action,
  target: RuleTarget,
  ports: readonly PortRange[] | null,
  expiresAt: number | null,
): Rule {
  const t = targetText(target);
  const pt = portsText(ports);
  const where =
    pt === '' ? t : target.kind === 'cidr' && target.network.family === 6 ? `[${t}]:${pt}` : `${t}:${pt}`;
  const exp = expiresAt === null ? '' : ` until ${new Date(expiresAt).toISOString()}`;
  return { text: `${action} ${where}${exp}`, action, target, ports, expiresAt };
}

/** Parses one rule in the flag syntax. Throws RuleError naming the text. */
export function parseRule(text: string, action: Action): Rule {
  const whole = text;
  const s = text.trim();
  let target: string;
  let port: string | null = null;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new RuleError(whole, 'missing "]"');
    target = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new RuleError(whole, `unexpected ${JSON.stringify(rest)} after "]"`);
      port = rest.slice(1);
    }
  } else {
    const colons = s.split(':').length - 1;
    if (colons === 1) {
      const i = s.indexOf(':');
      target = s.slice(0, i);
      port = s.slice(i + 1);
    } else {
      // no colon, or a bare IPv6 CIDR (ports on IPv6 need brackets)
      target = s;
    }
  }
  const t = parseTarget(target, whole);
  const ports = port === null ? null : [parsePortSpec(port, whole)];
  return makeRule(action, t, ports, null);
}

/** Parses the object form. Throws RuleError. */
export function ruleFromSpec(spec: RuleSpec, defaultAction: Action = 'allow'): Rule {
  const whole = JSON.stringify(spec);
  if (spec === null || typeof spec !== 'object') throw new RuleError(whole, 'a rule must be an object');
  const hasCidr = typeof spec.cidr === 'string';
  const hasHost = typeof spec.host === 'string';
  if (hasCidr === hasHost) throw new RuleError(whole, 'exactly one of "cidr" and "host" is required');
  let action: Action = defaultAction;
  if (spec.action !== undefined) {
    const a = String(spec.action).toLowerCase();
    if (a !== 'allow' && a !== 'deny')
      throw new RuleError(whole, `action must be Allow or Deny, not ${JSON.stringify(spec.action)}`);
    action = a;
  }
  let target: RuleTarget;
  if (hasCidr) {
    const c = spec.cidr as string;
    const bare = c.startsWith('[') && c.endsWith(']') ? c.slice(1, -1) : c;
    target = parseCidr(bare, whole);
  } else {
    target = parseTarget(spec.host as string, whole);
    if (target.kind === 'cidr') throw new RuleError(whole, '"host" must be a name; use "cidr" for addresses');
  }
  let ports: PortRange[] | null = null;
  if (spec.ports !== undefined) {
    if (!Array.isArray(spec.ports)) throw new RuleError(whole, '"ports" must be a list');
    if (spec.ports.length > 0) ports = spec.ports.map((p) => parsePortSpec(String(p), whole));
  }
  let expiresAt: number | null = null;
  if (spec.expiresAt !== undefined) {
    const ms = Date.parse(String(spec.expiresAt));
    if (!Number.isFinite(ms))
      throw new RuleError(whole, `expiresAt ${JSON.stringify(spec.expiresAt)} is not an RFC 3339 time`);
    expiresAt = ms;
  }
  return makeRule(action, target, ports, expiresAt);
}

/** Splits a flag value that may hold several comma-separated rules. */
export function splitRuleList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function portMatches(ports: readonly PortRange[] | null, port: number): boolean {
  if (ports === null) return true;
  for (const [lo, hi] of ports) if (port >= lo && port <= hi) return true;
  return false;
}
