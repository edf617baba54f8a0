// The egress policy: a pure function from (requested host, resolved addresses, port, time) to a
// decision. Compiled once per rule set into lookup structures so a decision's cost does not grow
// with the number of rules:
//   - IP rules: a binary prefix trie per family; a lookup walks the address's bits (at most 32 or
//     128 steps), remembering the nodes that hold rules, then tries them from the longest prefix
//     back and stops at the first with a rule for the port (longest prefix wins);
//   - host rules: an exact-name map and a wildcard map keyed by suffix; a lookup tries the name, then
//     each proper parent domain, longest first (so `*.pypi.org` never matches `pypi.org` itself nor
//     `evilpypi.org`).
// Within one prefix (or one name), a port-specific rule beats a portless one, and at a tie deny wins.

import {
  type IPAddress,
  isLoopback,
  type Normalised,
  neverReachable,
  normalise,
  sameAddress,
} from './address.ts';
import { type Action, portMatches, type Rule } from './rule.ts';

/** Why a decision came out as it did; a closed set so audit consumers can rely on it. */
export type DecisionReason =
  | 'rule' // a rule matched (see `rule`)
  | 'default' // nothing matched, the default action applied
  | 'never-reachable' // unspecified, broadcast or multicast address
  | 'own-listener' // the datapath's own proxy/health/forward port
  | 'embedded-form' // an IPv4-embedding IPv6 form whose destination cannot be judged
  | 'invalid-host'; // a name that is neither a valid DNS name nor an address

export interface Decision {
  readonly action: Action;
  readonly reason: DecisionReason;
  /** the deciding rule's text, or null for default/built-in decisions */
  readonly rule: string | null;
  /** for a denial caused by one address of several, that address */
  readonly address: IPAddress | null;
}

/** A listening socket of the datapath itself; connections to it are never allowed. */
export interface OwnListener {
  readonly address: IPAddress;
  readonly port: number;
}

export interface PolicyOptions {
  readonly defaultAction: Action;
  /** the proxy, health and forward listeners (an unspecified address means "every local address") */
  readonly ownListeners?: readonly OwnListener[];
  /** addresses of this host's interfaces, so a wildcard listener's port is protected on each of them */
  readonly localAddresses?: readonly IPAddress[];
}

interface Bucket {
  /** port-specific rules, then portless rules, as they were given */
  readonly specific: Rule[];
  readonly portless: Rule[];
}

function addTo(map: Map<string | number, Bucket>, key: string | number, r: Rule) {
  let b = map.get(key);
  if (b === undefined) {
    b = { specific: [], portless: [] };
    map.set(key, b);
  }
  (r.ports === null ? b.portless : b.specific).push(r);
}

/** The best rule in a bucket for this port and time: port-specific first, deny at a tie. */
function pick(b: Bucket, port: number, now: number): Rule | null {
  let best: Rule | null = null;
  for (const r of b.specific) {
    if (r.expiresAt !== null && r.expiresAt <= now) continue;
    if (!portMatches(r.ports, port)) continue;
    if (r.action === 'deny') return r;
    best ??= r;
  }
  if (best !== null) return best;
  for (const r of b.portless) {
    if (r.expiresAt !== null && r.expiresAt <= now) continue;
    if (r.action === 'deny') return r;
    best ??= r;
  }
  return best;
}

interface TrieNode {
  zero: TrieNode | null;
  one: TrieNode | null;
  bucket: Bucket | null;
}

const newNode = (): TrieNode => ({ zero: null, one: null, bucket: null });

/** Bit `i` (0 = most significant) of an address held as 32-bit words. */
function bitAt(words: readonly number[], i: number): number {
  return (words[i >>> 5] >>> (31 - (i & 31))) & 1;
}

function trieInsert(root: TrieNode, words: readonly number[], prefix: number, r: Rule): void {
  let n = root;
  for (let i = 0; i < prefix; i++) {
    if (bitAt(words, i) === 0) n = n.zero ??= newNode();
    else n = n.one ??= newNode();
  }
  n.bucket ??= { specific: [], portless: [] };
  (r.ports === null ? n.bucket.portless : n.bucket.specific).push(r);
}

export class Policy {
  readonly rules: readonly Rule[];
  readonly defaultAction: Action;
  private readonly v4: TrieNode = newNode();
  private readonly v6: TrieNode = newNode();
  /** scratch stack of rule-holding nodes on a lookup path (decisions are synchronous) */
  private readonly path: Bucket[] = [];
  private readonly exact = new Map<string | number, Bucket>();
  private readonly wildcard = new Map<string | number, Bucket>();
  private readonly ipAllowPorts: Rule[] = [];
  private readonly own: readonly OwnListener[];
  private readonly local: readonly IPAddress[];

  constructor(rules: readonly Rule[], options: PolicyOptions) {
    this.rules = rules;
    this.defaultAction = options.defaultAction;
    this.own = options.ownListeners ?? [];
    this.local = options.localAddresses ?? [];
    for (const r of rules) {
      const t = r.target;
      if (t.kind === 'host') addTo(this.exact, t.name, r);
      else if (t.kind === 'wildcard') addTo(this.wildcard, t.suffix, r);
      else {
        if (t.network.family === 4) trieInsert(this.v4, [t.network.v4], t.prefix, r);
        else trieInsert(this.v6, t.network.w, t.prefix, r);
        if (r.action === 'allow') this.ipAllowPorts.push(r);
      }
    }
  }

  /** The same rules with other listeners/defaults: used when the set of own listeners changes. */
  withOptions(options: PolicyOptions): Policy {
    return new Policy(this.rules, options);
  }

  /** Most specific IP rule for an (already normalised) address and port, or null. */
  matchAddress(a: IPAddress, port: number, now: number): Rule | null {
    const words = a.family === 4 ? [a.v4] : a.w;
    const bits = a.family === 4 ? 32 : 128;
    const path = this.path;
    path.length = 0;
    let n: TrieNode | null = a.family === 4 ? this.v4 : this.v6;
    for (let i = 0; n !== null; i++) {
      if (n.bucket !== null) path.push(n.bucket);
      if (i === bits) break;
      n = bitAt(words, i) === 0 ? n.zero : n.one;
    }
    for (let j = path.length - 1; j >= 0; j--) {
      const r = pick(path[j], port, now);
      if (r !== null) return r;
    }
    return null;
  }

  /** Most specific host rule for a canonical name and port (exact, then the longest wildcard suffix). */
  matchHost(name: string, port: number, now: number): Rule | null {
    const e = this.exact.get(name);
    if (e !== undefined) {
      const r = pick(e, port, now);
      if (r !== null) return r;
    }
    if (this.wildcard.size === 0) return null;
    let i = name.indexOf('.');
    while (i >= 0) {
      const b = this.wildcard.get(name.slice(i + 1));
      if (b !== undefined) {
        const r = pick(b, port, now);
        if (r !== null) return r;
      }
      i = name.indexOf('.', i + 1);
    }
    return null;
  }

  /**
   * Before resolving a name: deny early when no answer could be allowed, so a denied name is never
   * looked up (no DNS lookups for names nothing allows). Returns null when the name must be resolved
   * and its addresses judged by `decide`.
   */
  precheckHost(name: string, port: number, now: number): Decision | null {
    const r = this.matchHost(name, port, now);
    if (r !== null) return r.action === 'deny' ? deny('rule', r, null) : null;
    if (this.defaultAction === 'allow') return null;
    for (const a of this.ipAllowPorts) {
      if ((a.expiresAt === null || a.expiresAt > now) && portMatches(a.ports, port)) return null;
    }
    return deny('default', null, null);
  }

  private isOwnListener(a: IPAddress, port: number): boolean {
    for (const l of this.own) {
      if (l.port !== port) continue;
      if (sameAddress(l.address, a)) return true;
      if (neverReachable(l.address) === 'unspecified') {
        if (isLoopback(a)) return true;
        for (const x of this.local) if (sameAddress(x, a)) return true;
      }
    }
    return false;
  }

  /**
   * The decision for a connection to `port` at the given addresses (all of them must pass), requested
   * as `host` (a canonical name, or null when the client gave an address).
   */
  decide(host: string | null, addresses: readonly IPAddress[], port: number, now: number): Decision {
    const hostRule = host === null ? null : this.matchHost(host, port, now);
    if (hostRule !== null && hostRule.action === 'deny') return deny('rule', hostRule, null);
    let allowedBy: Rule | null = hostRule;
    for (const raw of addresses) {
      const n: Normalised = normalise(raw);
      if (n.refused !== null) return deny('embedded-form', null, raw);
      const judged = n.embedded === null ? [n.address] : [n.address, n.embedded];
      for (const a of judged) {
        if (neverReachable(a) !== null) return deny('never-reachable', null, raw);
        if (this.isOwnListener(a, port)) return deny('own-listener', null, raw);
        const r = this.matchAddress(a, port, now);
        if (r !== null && r.action === 'deny') return deny('rule', r, raw);
        // Without a host rule, every address needs its own allow (or the default must be allow).
        if (hostRule === null) {
          if (r === null && this.defaultAction === 'deny') return deny('default', null, raw);
          allowedBy ??= r;
        }
      }
    }
    if (addresses.length === 0) return deny('default', null, null);
    if (allowedBy === null) return { action: 'allow', reason: 'default', rule: null, address: null };
    return { action: 'allow', reason: 'rule', rule: allowedBy.text, address: null };
  }

  /** Earliest future expiry of any rule (so a timer can re-check open connections then), or null. */
  nextExpiry(now: number): number | null {
    let next: number | null = null;
    for (const r of this.rules) {
      if (r.expiresAt !== null && r.expiresAt > now && (next === null || r.expiresAt < next))
        next = r.expiresAt;
    }
    return next;
  }
}

function deny(reason: DecisionReason, r: Rule | null, address: IPAddress | null): Decision {
  return { action: 'deny', reason, rule: r === null ? null : r.text, address };
}
