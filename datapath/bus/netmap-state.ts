// The netmap a datapath has applied, and the peer changes a new one implies. Pure. Older maps
// (by version) are ignored, so a late message from the bus cannot undo a newer poll result.

// The wire format (Netmap, NetmapPeer, Revocation) is the control plane's, defined once in
// operator/controlplane/netmap.ts; this module only validates and applies it.
import type { Netmap, NetmapPeer, Revocation } from '../../operator/controlplane/netmap.ts';

export type { Netmap, NetmapPeer };

export interface NetmapChange {
  add: NetmapPeer[];
  update: NetmapPeer[];
  remove: NetmapPeer[];
}

/** What the bus carries. A revocation without a uid is accepted too (it then applies whatever our UID). */
export type BusMessage = Netmap | (Omit<Revocation, 'uid'> & { uid?: string });

export class NetmapError extends Error {
  override name = 'NetmapError';
}

const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const CIDR = /^[0-9a-fA-F.:]+\/\d{1,3}$/;
const ENDPOINT = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/;

/** Validates a message from the bus or the poll endpoint; throws NetmapError saying what is wrong. */
export function parseBusMessage(value: unknown): BusMessage {
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || v === null) throw new NetmapError('netmap message is not an object');
  if (!Number.isSafeInteger(v.version)) throw new NetmapError('netmap message has no integer version');
  if (v.type === 'revoked')
    return {
      type: 'revoked',
      version: v.version as number,
      reason: String(v.reason ?? ''),
      uid: typeof v.uid === 'string' ? v.uid : undefined,
    };
  if (v.type !== 'netmap') throw new NetmapError(`unknown netmap message type ${JSON.stringify(v.type)}`);
  if (!Array.isArray(v.peers) || v.peers.length > 10_000)
    throw new NetmapError('netmap peers must be a list');
  for (const p of v.peers as NetmapPeer[]) {
    if (typeof p?.name !== 'string' || !WG_KEY.test(p.publicKey))
      throw new NetmapError('netmap peer without name or valid public key');
    if (p.endpoint !== undefined && !ENDPOINT.test(p.endpoint))
      throw new NetmapError(`peer ${p.name}: bad endpoint`);
    if (!Array.isArray(p.allowedIPs) || !p.allowedIPs.every((c) => typeof c === 'string' && CIDR.test(c))) {
      throw new NetmapError(`peer ${p.name}: bad allowedIPs`);
    }
  }
  return v as unknown as Netmap;
}

export class NetmapState {
  version = 0;
  peers = new Map<string, NetmapPeer>();
  revoked: string | null = null;
  appliedAt = 0;
  /** our sandbox UID: a revocation for another UID (an earlier sandbox of the same name) is not ours */
  readonly uid: string | undefined;

  constructor(uid?: string) {
    this.uid = uid;
  }

  /** The changes to apply, or null when the map is stale or nothing changed. */
  apply(m: BusMessage, now = Date.now()): NetmapChange | null {
    if (m.version <= this.version) return null;
    if (m.type === 'revoked' && m.uid !== undefined && this.uid !== undefined && m.uid !== this.uid)
      return null;
    this.version = m.version;
    this.appliedAt = now;
    if (m.type === 'revoked') {
      this.revoked = m.reason || 'revoked';
      const remove = [...this.peers.values()];
      this.peers.clear();
      return { add: [], update: [], remove };
    }
    const next = new Map(m.peers.map((p) => [p.publicKey, p]));
    const change: NetmapChange = { add: [], update: [], remove: [] };
    for (const [k, p] of next) {
      const old = this.peers.get(k);
      if (!old) change.add.push(p);
      else if (
        old.endpoint !== p.endpoint ||
        old.allowedIPs.join() !== p.allowedIPs.join() ||
        old.name !== p.name
      )
        change.update.push(p);
    }
    for (const [k, p] of this.peers) if (!next.has(k)) change.remove.push(p);
    this.peers = next;
    return change.add.length + change.update.length + change.remove.length > 0 ? change : null;
  }
}
