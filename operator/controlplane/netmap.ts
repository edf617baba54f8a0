// The netmap a sandbox receives: every other enrolled sandbox of its namespace plus the static
// peers of the operator's config. Pure: built from identities and pod addresses, so publishers on
// any replica compute the same map from the same state.

export interface Identity {
  namespace: string;
  name: string;
  uid: string;
  publicKey: string;
  overlayIP: string;
  wgPort: number;
}

export interface NetmapPeer {
  name: string;
  namespace?: string;
  publicKey: string;
  overlayIP?: string;
  /** `podIP:port`, absent while the peer has no pod IP (it can still initiate to us). */
  endpoint?: string;
  allowedIPs: string[];
}

export interface StaticPeer {
  name: string;
  publicKey: string;
  endpoint?: string;
  allowedIPs: string[];
}

export interface Netmap {
  type: 'netmap';
  /** Milliseconds since the epoch when the map was computed; datapaths ignore older maps. */
  version: number;
  self: { namespace: string; name: string; overlayIP: string };
  networkCIDR: string;
  peers: NetmapPeer[];
}

export interface Revocation {
  type: 'revoked';
  version: number;
  reason: string;
  /** the identity revoked: a sandbox recreated under the same name (new UID) ignores it */
  uid: string;
}

export function buildNetmap(
  self: Identity,
  identities: readonly Identity[],
  podIPs: ReadonlyMap<string, string>,
  staticPeers: readonly StaticPeer[],
  networkCIDR: string,
  version: number,
): Netmap {
  const peers: NetmapPeer[] = identities
    .filter((p) => p.namespace === self.namespace && p.uid !== self.uid && p.publicKey !== self.publicKey)
    .map((p) => {
      const podIP = podIPs.get(`${p.namespace}/${p.name}`);
      const peer: NetmapPeer = {
        name: p.name,
        namespace: p.namespace,
        publicKey: p.publicKey,
        overlayIP: p.overlayIP,
        allowedIPs: [`${p.overlayIP}/32`],
      };
      if (podIP) peer.endpoint = `${podIP}:${p.wgPort}`;
      return peer;
    });
  for (const s of staticPeers)
    peers.push({ name: s.name, publicKey: s.publicKey, endpoint: s.endpoint, allowedIPs: s.allowedIPs });
  peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    type: 'netmap',
    version,
    self: { namespace: self.namespace, name: self.name, overlayIP: self.overlayIP },
    networkCIDR,
    peers,
  };
}

/** Whether two netmaps differ in anything a datapath applies (the version alone does not count). */
export function sameMembership(a: Netmap | undefined, b: Netmap): boolean {
  return (
    a !== undefined &&
    JSON.stringify(a.peers) === JSON.stringify(b.peers) &&
    a.self.overlayIP === b.self.overlayIP
  );
}
