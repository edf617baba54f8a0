// The enrolled datapath: with --server-url, `sandbox start` resumes from its stored credentials or
// enrolls with --token, brings up WireGuard + the userspace netstack on its overlay address, keeps
// the WireGuard peers and dial routes equal to the netmap it receives over NATS (or polls while the
// bus is down) — peers change without a restart —, listens for forwards on the overlay address,
// sends heartbeats, and streams the audit log into JetStream.
import { readFileSync } from 'node:fs';
import { AuditStreamer } from '../bus/audit-streamer.ts';
import { openBus } from '../bus/connection.ts';
import type { NetmapPeer, NetmapState } from '../bus/netmap-state.ts';
import { NetmapSync } from '../bus/netmap-sync.ts';
import { CredentialRenewal } from '../bus/renewal.ts';
import { type Datapath, type RunningPart, registerDatapathPart } from '../cli/parts.ts';
import type { DialRoute } from '../dial/dialer.ts';
import { formatAddress } from '../netstack/ip/address.ts';
import type { Netstack } from '../netstack/stack.ts';
import { OverlayDialer } from '../overlay/dialer.ts';
import { exposeNetstack, netstackOverDevice, startOverlayForwards } from '../overlay/expose.ts';
import { type IPAddress, inPrefix, normalise } from '../policy/address.ts';
import { parseRule } from '../policy/rule.ts';
import { WireGuardDevice } from '../wireguard/device.ts';
import { decodeKey } from '../wireguard/keys.ts';
import { configDir, credentialsPath } from './credentials.ts';
import { EnrollmentError, obtainIdentity, podNamespace } from './identity.ts';

export const DEFAULT_WG_PORT = 51820;

function cidrOf(text: string): { network: IPAddress; prefix: number } {
  const r = parseRule(text, 'allow');
  if (r.target.kind !== 'cidr') throw new Error(`allowed IP ${text} is not a CIDR`);
  return { network: r.target.network, prefix: r.target.prefix };
}

function endpointOf(text: string | undefined): { address: string; port: number } | null {
  if (!text) return null;
  const i = text.lastIndexOf(':');
  return { address: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

const ipv4Bytes = (ip: string) => Buffer.from(ip.split('.').map(Number));

/**
 * The token, or null when there is none. A `$(LATTICE_TOKEN)` reference left unexpanded (Kubernetes does
 * that in args when the optional Secret key is gone: the control plane removes a consumed token) is
 * "no token".
 */
export function presentToken(t: string | null): string | null {
  return t === null || t === '' || /^\$\([A-Z_]+\)$/.test(t) ? null : t;
}

export async function startEnrolled(dp: Datapath): Promise<RunningPart | undefined> {
  const s = dp.settings;
  if (s.serverUrl === null) return undefined;
  if (s.extra['wg-config'] !== undefined) {
    throw new EnrollmentError(
      '--server-url and --wg-config both set: the control plane provides the overlay; use one',
    );
  }
  const namespace = podNamespace(process.env, (p) => readFileSync(p, 'utf8'));
  if (namespace === null)
    throw new EnrollmentError(
      'cannot tell the namespace: set LATTICE_NAMESPACE (the operator sets it from the Pod)',
    );
  const wgPort = s.extra['wg-port'] !== undefined ? Number(s.extra['wg-port']) : DEFAULT_WG_PORT;
  if (!Number.isInteger(wgPort) || wgPort < 0 || wgPort > 65535)
    throw new EnrollmentError(`--wg-port ${s.extra['wg-port']}: not a port`);
  const path = credentialsPath(configDir());
  const { credentials: c, how } = await obtainIdentity({
    serverUrl: s.serverUrl,
    name: s.name,
    namespace,
    token: presentToken(s.token ?? process.env.LATTICE_TOKEN ?? null),
    credentialsPath: path,
    wgPort: wgPort || undefined,
    log: dp.log,
  });

  // WireGuard + netstack on the overlay address; peers come from the netmap.
  const device = await WireGuardDevice.open({
    privateKey: decodeKey(c.wireguard.privateKey, 'stored private key'),
    listenPort: wgPort,
  });
  const self = ipv4Bytes(c.overlayIP);
  const runtime = netstackOverDevice(device, [self], 1420);
  let netstack: Netstack | null = runtime.stack;
  exposeNetstack(dp, () => netstack);

  let peersByIP = new Map<string, NetmapPeer>();
  const applyPeers = (
    state: NetmapState,
    change: { add: NetmapPeer[]; update: NetmapPeer[]; remove: NetmapPeer[] },
  ) => {
    for (const p of change.remove) {
      try {
        device.removePeer(p.publicKey);
      } catch (e) {
        dp.log.warn('removing a peer failed', { peer: p.name, error: (e as Error).message });
      }
    }
    for (const p of change.add) {
      try {
        device.addPeer({
          publicKey: decodeKey(p.publicKey, `peer ${p.name} key`),
          endpoint: endpointOf(p.endpoint),
          allowedIps: p.allowedIPs,
          persistentKeepalive: 25,
        });
      } catch (e) {
        dp.log.warn('adding a peer failed', { peer: p.name, error: (e as Error).message });
      }
    }
    for (const p of change.update) {
      try {
        device.updatePeer(p.publicKey, { endpoint: endpointOf(p.endpoint), allowedIps: p.allowedIPs });
      } catch (e) {
        dp.log.warn('updating a peer failed', { peer: p.name, error: (e as Error).message });
      }
    }
    peersByIP = new Map([...state.peers.values()].filter((p) => p.overlayIP).map((p) => [p.overlayIP!, p]));
    const routes: DialRoute[] = [...state.peers.values()].map((p) => {
      const cidrs = p.allowedIPs.map(cidrOf);
      return {
        name: `overlay:${p.name}`,
        matches: (a: IPAddress) => {
          const n = normalise(a).address;
          return cidrs.some((x) => inPrefix(n, x.network, x.prefix));
        },
        dialer: new OverlayDialer(runtime, `overlay:${p.name}`),
      };
    });
    dp.dialer.setRoutes(routes);
    dp.log.info('netmap applied', {
      version: state.version,
      peers: state.peers.size,
      added: change.add.map((p) => p.name),
      removed: change.remove.map((p) => p.name),
      revoked: state.revoked,
    });
  };

  const forwarders = await startOverlayForwards(
    dp,
    runtime,
    [self],
    (a) => peersByIP.get(formatAddress(a))?.name ?? null,
  );

  const bus = openBus(c, dp.log);
  const renewal = new CredentialRenewal(c, path, bus, dp.log);
  renewal.start();
  const sync = new NetmapSync({
    credentials: c,
    bus,
    apply: (change, state) => applyPeers(state, change),
    log: dp.log,
  });
  sync.start();
  const streamer = new AuditStreamer({
    auditPath: s.auditPath,
    maxFiles: s.auditMaxFiles,
    namespace: c.namespace,
    name: c.sandbox,
    subject: c.bus.subjects.audit,
    bus,
    log: dp.log,
  });
  streamer.start();

  // The section the operator reads into the sandbox status (operator/sandbox/report.ts).
  dp.status.section('identity', () => ({
    enrolled: !sync.rejected && !sync.state.revoked,
    overlayIP: c.overlayIP,
    publicKey: c.wireguard.publicKey,
    enrolledAt: c.enrolledAt,
  }));
  dp.status.section('enrollment', () => ({
    state: sync.rejected ? 'rejected' : sync.state.revoked ? 'revoked' : how,
    sandbox: `${c.namespace}/${c.sandbox}`,
    overlayIP: c.overlayIP,
    networkCIDR: c.networkCIDR,
    publicKey: c.wireguard.publicKey,
    enrolledAt: c.enrolledAt,
    credentialExpiresAt: renewal.expiresAt,
    credentialRenewals: renewal.renewals,
    renewalError: renewal.lastError,
    credentialsPath: path,
    problem: sync.rejected ?? sync.state.revoked ?? null,
  }));
  dp.status.section('bus', () => ({
    url: c.bus.url,
    state: bus.state,
    lastError: bus.lastError,
    lastHeartbeat: sync.lastHeartbeat,
    netmapVersion: sync.state.version,
    lastPoll: sync.lastPoll,
    audit: streamer.status(),
  }));
  dp.status.section('overlay', () => ({
    listenPort: device.port,
    publicKey: device.publicKey,
    addresses: [`${c.overlayIP}/32`],
    peers: device.peers().map((p) => ({
      ...p,
      name: [...sync.state.peers.values()].find(
        (q) => q.publicKey === (p as { publicKey?: string }).publicKey,
      )?.name,
    })),
    forwards: forwarders.map((f) => ({ port: f.spec.port, listen: f.bound, ...f.counters })),
  }));
  dp.status.readiness('enrolled', () =>
    sync.rejected || sync.state.revoked
      ? { ready: false, detail: `identity not accepted: ${sync.rejected ?? sync.state.revoked}` }
      : { ready: true, detail: `${how} as ${c.overlayIP}` },
  );
  dp.log.info('enrolled datapath up', {
    how,
    overlayIP: c.overlayIP,
    wgPort: device.port,
    forwards: forwarders.length,
  });

  return {
    async stop() {
      sync.stop();
      renewal.stop();
      await streamer.stop();
      for (const f of forwarders) await f.stopAccepting();
      dp.dialer.setRoutes([]);
      await bus.close();
      runtime.close();
      netstack = null;
      await device.close();
    },
  };
}

registerDatapathPart('enrollment', startEnrolled);
