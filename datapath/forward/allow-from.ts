// allowFrom of a forward: peer names and CIDRs. Empty means every peer may connect (the listener is
// on the overlay, which only enrolled peers reach; standalone it is on loopback). Pure.

import { type IPAddress, inPrefix, normalise } from '../policy/address.ts';
import { parseRule, RuleError } from '../policy/rule.ts';
import type { PeerInfo } from './listener.ts';

export interface AllowFrom {
  readonly names: ReadonlySet<string>;
  readonly cidrs: readonly { network: IPAddress; prefix: number }[];
  readonly any: boolean;
}

/** Throws RuleError for an entry that is neither a peer name nor a CIDR. */
export function parseAllowFrom(entries: readonly string[]): AllowFrom {
  const names = new Set<string>();
  const cidrs: { network: IPAddress; prefix: number }[] = [];
  for (const e of entries) {
    if (/^[0-9.]+(\/[0-9]+)?$/.test(e) || e.includes(':')) {
      const r = parseRule(e, 'allow');
      if (r.target.kind !== 'cidr' || r.ports !== null)
        throw new RuleError(e, 'allowFrom takes a peer name or a CIDR');
      cidrs.push({ network: r.target.network, prefix: r.target.prefix });
    } else if (/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(e)) names.add(e);
    else throw new RuleError(e, 'allowFrom takes a peer name or a CIDR');
  }
  return { names, cidrs, any: entries.length === 0 };
}

export function peerAllowed(a: AllowFrom, peer: PeerInfo): boolean {
  if (a.any) return true;
  if (peer.name !== null && a.names.has(peer.name)) return true;
  if (peer.address === null) return false;
  const addr = normalise(peer.address).address;
  for (const c of a.cidrs) if (inPrefix(addr, c.network, c.prefix)) return true;
  return false;
}
