// Peers declared in the operator's configuration (a JSON file), added to every sandbox's netmap:
// e.g. an office gateway or a non-Kubernetes WireGuard host. Pure: parse and validate.
import { isWireGuardKey } from './enroll-request.ts';
import type { StaticPeer } from './netmap.ts';

export class StaticPeersError extends Error {
  override name = 'StaticPeersError';
}

const NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
const ENDPOINT = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:.]+\/\d{1,3})$/;

/** `[{"name", "publicKey", "endpoint"?, "allowedIPs": [CIDR, ...]}]`; throws saying which entry is wrong. */
export function parseStaticPeers(text: string): StaticPeer[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StaticPeersError('static peers: not valid JSON');
  }
  if (!Array.isArray(v) || v.length > 1000)
    throw new StaticPeersError('static peers: expected a JSON list (at most 1000)');
  return v.map((p: Record<string, unknown>, i) => {
    const where = `static peer #${i + 1}`;
    if (typeof p !== 'object' || p === null) throw new StaticPeersError(`${where}: not an object`);
    if (typeof p.name !== 'string' || !NAME.test(p.name))
      throw new StaticPeersError(`${where}: name must be a DNS name`);
    if (!isWireGuardKey(p.publicKey))
      throw new StaticPeersError(`${where} (${p.name}): publicKey is not a WireGuard key`);
    if (p.endpoint !== undefined && (typeof p.endpoint !== 'string' || !ENDPOINT.test(p.endpoint))) {
      throw new StaticPeersError(`${where} (${p.name}): endpoint must be IP:PORT`);
    }
    if (
      !Array.isArray(p.allowedIPs) ||
      p.allowedIPs.length === 0 ||
      !p.allowedIPs.every((c) => typeof c === 'string' && CIDR.test(c))
    ) {
      throw new StaticPeersError(`${where} (${p.name}): allowedIPs must be a non-empty list of CIDRs`);
    }
    const peer: StaticPeer = { name: p.name, publicKey: p.publicKey, allowedIPs: p.allowedIPs as string[] };
    if (p.endpoint !== undefined) peer.endpoint = p.endpoint as string;
    return peer;
  });
}
