// The WireGuard device: the sans-IO core bound to its UDP port (node:dgram) and a timer tick. This
// file and udp-burst.ts are the folder's only I/O. The TCP/IP stack plugs in with two calls:
//   device.onPacket((packet, peer) => ...)   decrypted inner IP packets (IPv4 or IPv6), one per call
//   device.send(packet)                      an inner IP packet to encrypt and send (routed by its destination)
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { type Clock, systemClock } from './clock.ts';
import {
  type DecapsulateResult,
  type Endpoint,
  type PeerConfig,
  type PeerStats,
  WireGuardCore,
} from './core.ts';
import type { DropReason, SendFailure } from './errors.ts';
import type { Timings } from './timings.ts';
import { BurstReader, udpSocketFd } from './udp-burst.ts';
import { literalLookup } from './udp-lookup.ts';

export interface DeviceOptions {
  privateKey: Uint8Array;
  /** UDP port; 0 (default) picks a free one. */
  listenPort?: number;
  /**
   * Address to bind. Default '::' with IPv4 mapped in (every interface, both families): a WireGuard
   * port answers nothing to a sender that does not know our public key (MAC1), so being reachable is
   * its purpose, not an exposure. Pass an address to bind one interface only.
   */
  listenAddress?: string;
  peers?: PeerConfig[];
  clock?: Clock;
  timings?: Partial<Timings>;
  /** Tunnel MTU (default 1420): the largest inner packet the netstack should send. */
  mtu?: number;
  /** How often timers are checked, ms (default 100). */
  tickMs?: number;
  /** Socket send and receive buffer size (default 4 MiB, capped by the kernel). */
  socketBufferBytes?: number;
  /** Sees every datagram received, before the core (debugging and tests). */
  tap?: (datagram: Buffer, from: Endpoint) => void;
}

export type SendResult = 'sent' | 'staged' | SendFailure;
export type PacketHandler = (packet: Uint8Array, peerPublicKey: string) => void;

export class WireGuardDevice {
  readonly core: WireGuardCore;
  readonly #io: UdpSockets;
  readonly #timer: NodeJS.Timeout;
  readonly #tap: DeviceOptions['tap'];
  #handler: PacketHandler = () => {};
  #closed = false;
  /** Datagrams the socket refused to send (e.g. no route); never thrown. */
  get sendErrors(): number {
    return this.#io.sendErrors;
  }

  /** Datagrams received in bursts, read straight from the socket (udp-burst.ts). */
  get burstDatagrams(): number {
    return this.#io.burstDatagrams;
  }

  private constructor(core: WireGuardCore, io: UdpSockets, opts: DeviceOptions) {
    this.core = core;
    this.#io = io;
    this.#tap = opts.tap;
    this.#timer = setInterval(() => {
      this.core.tick();
      this.#flush();
    }, opts.tickMs ?? 100);
    this.#timer.unref();
  }

  /** Binds the socket and returns a running device. */
  static async open(opts: DeviceOptions): Promise<WireGuardDevice> {
    const core = new WireGuardCore({
      privateKey: opts.privateKey,
      clock: opts.clock ?? systemClock,
      timings: opts.timings,
    });
    for (const p of opts.peers ?? []) core.addPeer(p);
    const io = {
      address: opts.listenAddress ?? '::',
      port: opts.listenPort ?? 0,
      bufferBytes: opts.socketBufferBytes ?? 4 << 20,
    };
    // The device exists only once the socket is bound; until then datagrams have nowhere to go.
    let device: WireGuardDevice | null = null;
    const onDatagram = (data: Buffer, address: string, port: number, sourceKnown: boolean) => {
      if (device !== null) device.#receive(data, address, port, sourceKnown);
    };
    device = new WireGuardDevice(core, await UdpSockets.open(io, onDatagram), opts);
    return device;
  }

  get publicKey(): string {
    return this.core.publicKey;
  }

  get port(): number {
    return this.#io.port;
  }

  /** Registers the one receiver of decrypted inner packets. Each packet is its own buffer; keep it freely. */
  onPacket(handler: PacketHandler): void {
    this.#handler = handler;
  }

  /** Encrypts and sends one inner IP packet; `packet` may be reused by the caller once this returns. */
  send(packet: Uint8Array): SendResult {
    const r = this.core.encapsulate(packet);
    if (r.kind === 'send') this.#sendTo(r.data, r.to);
    this.#flush();
    if (r.kind === 'refused') return r.reason;
    return r.kind === 'send' ? 'sent' : 'staged';
  }

  addPeer(peer: PeerConfig): void {
    this.core.addPeer(peer);
  }

  updatePeer(publicKey: string, change: Omit<PeerConfig, 'publicKey'>): void {
    this.core.updatePeer(publicKey, change);
  }

  removePeer(publicKey: string): void {
    this.core.removePeer(publicKey);
  }

  /** Starts a handshake now (normally sending a packet does this). */
  initiateHandshake(publicKey: string): void {
    this.core.initiateHandshake(publicKey);
    this.#flush();
  }

  peers(): PeerStats[] {
    return this.core.peerStats();
  }

  drops(): Record<DropReason, number> {
    return Object.fromEntries(this.core.drops) as Record<DropReason, number>;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#io.close();
    this.core.destroy();
  }

  #lastFrom: Endpoint = { address: '', port: 0 };

  #receive(msg: Buffer, address: string, port: number, sourceKnown: boolean): void {
    if (this.#closed) return;
    // Consecutive datagrams mostly come from one peer: one endpoint object for all of them.
    let from = this.#lastFrom;
    if (from.address !== address || from.port !== port) {
      from = { address, port };
      this.#lastFrom = from;
    }
    this.#tap?.(msg, from);
    const r: DecapsulateResult = this.core.decapsulate(msg, from, sourceKnown);
    this.#flush();
    if (r.kind === 'deliver') this.#handler(r.packet, r.peer);
  }

  #flush(): void {
    for (let o = this.core.takeOutgoing(); o; o = this.core.takeOutgoing()) this.#sendTo(o.data, o.to);
  }

  #sendTo(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    this.#io.send(data, to.address, to.port);
  }
}

/**
 * The device's UDP port, on the event loop: one `sendto` per datagram sent; received bursts are
 * read in one go (udp-burst.ts). (A worker thread for the sockets was measured and removed: 0.82×
 * the throughput at 1.6× the CPU; docs/performance.md, overlay, fifth round.)
 *
 * Two sockets share the port (SO_REUSEPORT): the bound one receives from everyone and sends to any
 * endpoint; the other is connected to the endpoint most datagrams go to (the peer of a sidecar), and
 * those are sent on it without an address — Node then skips the per-datagram address handling and
 * the kernel its route lookup (the largest item of the overlay profile is this `sendto`). The
 * kernel delivers that endpoint's datagrams to the connected socket (the more specific match), so
 * both sockets are read. When the traffic moves elsewhere (roaming, or another peer becoming the
 * busy one), the connected socket follows after a run of sends to the new endpoint.
 */
class UdpSockets {
  readonly #socket: dgram.Socket;
  /** Connected to #connectedTo:#connectedPort ('' = not yet); null if the port could not be shared. */
  readonly #peerSocket: dgram.Socket | null;
  readonly #dualStack: boolean;
  #connectedTo = '';
  #connectedPort = 0;
  /**
   * Consecutive datagrams sent to other endpoints than the connected one. It starts at the threshold
   * so that the first datagram connects; a failed connect starts the count again, so an endpoint the
   * socket cannot connect to is retried every FOLLOW_AFTER_SENDS datagrams, not on each one.
   */
  #elsewhere = FOLLOW_AFTER_SENDS - 1;
  /** Last destination and its socket form (IPv4 as ::ffff: on a dual-stack socket), to skip the work per packet. */
  #lastTo = '';
  #lastToMapped = '';
  #errors = 0;

  /** Reads the bursts of the connected socket (udp-burst.ts); null where its descriptor is not reachable. */
  readonly #burst: BurstReader | null;

  private constructor(
    socket: dgram.Socket,
    peerSocket: dgram.Socket | null,
    dualStack: boolean,
    burst: BurstReader | null,
  ) {
    this.#socket = socket;
    this.#peerSocket = peerSocket;
    this.#dualStack = dualStack;
    this.#burst = burst;
    const onError = () => {
      this.#errors++;
    };
    socket.on('error', onError);
    peerSocket?.on('error', onError);
  }

  static async open(
    opts: { address: string; port: number; bufferBytes: number },
    onDatagram: (data: Buffer, address: string, port: number, sourceKnown: boolean) => void,
  ): Promise<UdpSockets> {
    const v4 = isIPv4(opts.address);
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; peers and stats see plain IPv4.
    let lastRaw = '';
    let lastPlain = '';
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      if (rinfo.address !== lastRaw) {
        lastRaw = rinfo.address;
        lastPlain = rinfo.family === 'IPv6' && lastRaw.startsWith('::ffff:') ? lastRaw.slice(7) : lastRaw;
      }
      onDatagram(msg, lastPlain, rinfo.port, true);
    };
    const socket = await bindClaimed(v4, opts.address, opts.port);
    let peerSocket: dgram.Socket | null = null;
    try {
      peerSocket = await bindSocket(v4, opts.address, socket.address().port, true);
    } catch {
      // The port could not be shared: every datagram goes through the bound socket, which works.
    }
    for (const s of peerSocket === null ? [socket] : [socket, peerSocket]) {
      try {
        // Bursts of datagrams outrun one event loop turn; a larger queue trades memory for fewer drops.
        s.setRecvBufferSize(opts.bufferBytes);
        s.setSendBufferSize(opts.bufferBytes);
      } catch {
        // The kernel caps these (net.core.rmem_max); the default then stays, which still works.
      }
    }
    socket.on('message', onMessage);
    const peerFd = peerSocket === null ? null : udpSocketFd(peerSocket);
    const burst = peerFd === null ? null : new BurstReader(peerFd);
    if (peerSocket !== null && burst !== null) {
      // The connected socket receives only its endpoint's datagrams, so the rest of a burst is the
      // same sender's as the datagram that revealed it — except datagrams queued before the socket
      // was (re)connected, which may be anyone's. So they are delivered with that endpoint but as
      // not known to come from it: they never move a peer's endpoint (roaming is seen on the
      // datagrams Node delivers, the first two of every turn at least).
      let burstPort = 0;
      const deliverDrained = (datagram: Buffer) => onDatagram(datagram, lastPlain, burstPort, false);
      peerSocket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
        onMessage(msg, rinfo);
        burstPort = rinfo.port;
        burst.afterDatagram(deliverDrained);
      });
    } else peerSocket?.on('message', onMessage);
    return new UdpSockets(socket, peerSocket, !v4 && opts.address === '::', burst);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  readonly #onSent = (err: Error | null): void => {
    if (err) this.#errors++;
  };

  /** Sends one datagram; `data` may be reused by the caller once this returns. */
  send(data: Uint8Array, to: string, port: number): void {
    if (to !== this.#lastTo) {
      this.#lastTo = to;
      this.#lastToMapped = this.#dualStack && isIPv4(to) ? `::ffff:${to}` : to;
    }
    const peer = this.#peerSocket;
    if (peer !== null) {
      if (this.#lastToMapped !== this.#connectedTo || port !== this.#connectedPort) {
        // Follow the traffic, but not datagram by datagram when several endpoints alternate.
        if (++this.#elsewhere >= FOLLOW_AFTER_SENDS) this.#connect(peer, port);
      }
      if (this.#lastToMapped === this.#connectedTo && port === this.#connectedPort) {
        this.#elsewhere = 0;
        peer.send(copyIfQueued(peer, data), this.#onSent);
        return;
      }
    }
    this.#socket.send(copyIfQueued(this.#socket, data), port, this.#lastToMapped, this.#onSent);
  }

  #connect(peer: dgram.Socket, port: number): void {
    this.#elsewhere = 0;
    try {
      if (this.#burst !== null) this.#burst.enabled = false;
      if (this.#connectedTo !== '') peer.disconnect();
      this.#connectedTo = '';
      peer.connectSync(port, this.#lastToMapped);
      this.#connectedTo = this.#lastToMapped;
      this.#connectedPort = port;
      // Only a connected socket's bursts are one sender's (an unconnected one shares the port's
      // traffic with the bound socket).
      if (this.#burst !== null) this.#burst.enabled = true;
    } catch {
      // (e.g. an IPv6 endpoint on an IPv4 socket) the bound socket sends it, and fails the same way.
    }
  }

  /** Sends the kernel refused, and receive errors (an ICMP error reported on the connected socket). */
  get sendErrors(): number {
    return this.#errors + (this.#burst?.errors ?? 0);
  }

  get burstDatagrams(): number {
    return this.#burst?.drained ?? 0;
  }

  close(): Promise<void> {
    this.#burst?.close();
    const closing = [this.#socket, this.#peerSocket].map((s) =>
      s === null ? undefined : new Promise<void>((resolve) => s.close(() => resolve())),
    );
    return Promise.all(closing).then(() => {});
  }
}

/** Sends in a row to another endpoint before the connected socket moves there. */
const FOLLOW_AFTER_SENDS = 32;

/**
 * With literalLookup Node sends at once when the kernel takes the datagram (the normal case). Only
 * behind a full socket buffer does it queue, and a queued send reads its bytes later, after the core
 * may have reused them (its output ring): copy exactly then. (The one datagram that first finds the
 * buffer full is queued uncopied; it could only be overwritten by 256 more datagrams in the same
 * synchronous run, and would then be a lost packet, not corrupt data: the copy that overwrote it is a
 * valid datagram the peer already has.)
 */
function copyIfQueued(socket: dgram.Socket, data: Uint8Array): Uint8Array {
  return socket.getSendQueueCount() > 0 ? Buffer.from(data) : data;
}

function bindSocket(v4: boolean, address: string, port: number, reusePort: boolean): Promise<dgram.Socket> {
  const socket = dgram.createSocket({
    type: v4 ? 'udp4' : 'udp6',
    ipv6Only: false,
    reusePort,
    lookup: literalLookup,
  });
  return new Promise<dgram.Socket>((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, address, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/**
 * Binds the device's socket with SO_REUSEPORT (so the connected socket can share its port) without
 * letting that weaken the port's ownership: SO_REUSEPORT would also admit any other socket of this
 * user that asks for it — e.g. a second datapath told the same port, which must fail with
 * EADDRINUSE instead of silently taking half the traffic. So the port is first claimed with a plain
 * socket (which fails if anyone holds it, and which a reuse socket elsewhere cannot join), released,
 * and bound again with the option at once.
 */
async function bindClaimed(v4: boolean, address: string, port: number): Promise<dgram.Socket> {
  for (let attempt = 0; ; attempt++) {
    const probe = await bindSocket(v4, address, port, false);
    const claimed = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    try {
      return await bindSocket(v4, address, claimed, true);
    } catch (err) {
      // Someone took the port in between: with port 0 pick another, otherwise it is theirs.
      if (port !== 0 || attempt >= 3 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}
