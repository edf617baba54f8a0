// The WireGuard device: the sans-IO core bound to one UDP socket (node:dgram) and a timer tick.
// This is the only file of the folder that does I/O. The TCP/IP stack plugs in with two calls:
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
  readonly #socket: dgram.Socket;
  readonly #dualStack: boolean;
  readonly #timer: NodeJS.Timeout;
  readonly #tap: DeviceOptions['tap'];
  #handler: PacketHandler = () => {};
  #closed = false;
  /** Datagrams the socket refused to send (e.g. no route); never thrown. */
  sendErrors = 0;

  private constructor(core: WireGuardCore, socket: dgram.Socket, dualStack: boolean, opts: DeviceOptions) {
    this.core = core;
    this.#socket = socket;
    this.#dualStack = dualStack;
    this.#tap = opts.tap;
    socket.on('message', (msg, rinfo) => this.#receive(msg, rinfo));
    socket.on('error', () => {
      this.sendErrors++;
    });
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
    const address = opts.listenAddress ?? '::';
    const v4 = isIPv4(address);
    const socket = dgram.createSocket({ type: v4 ? 'udp4' : 'udp6', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.listenPort ?? 0, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      // Bursts of datagrams outrun one event loop turn; a larger queue trades memory for fewer drops.
      socket.setRecvBufferSize(opts.socketBufferBytes ?? 4 << 20);
      socket.setSendBufferSize(opts.socketBufferBytes ?? 4 << 20);
    } catch {
      // The kernel caps these (net.core.rmem_max); the default then stays, which still works.
    }
    return new WireGuardDevice(core, socket, !v4 && address === '::', opts);
  }

  get publicKey(): string {
    return this.core.publicKey;
  }

  get port(): number {
    return this.#socket.address().port;
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
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    this.core.destroy();
  }

  #receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; peers and stats see plain IPv4.
    const address =
      rinfo.address.startsWith('::ffff:') && rinfo.family === 'IPv6' ? rinfo.address.slice(7) : rinfo.address;
    const from: Endpoint = { address, port: rinfo.port };
    this.#tap?.(msg, from);
    const r: DecapsulateResult = this.core.decapsulate(msg, from);
    this.#flush();
    if (r.kind === 'deliver') this.#handler(r.packet, r.peer);
  }

  #flush(): void {
    for (let o = this.core.takeOutgoing(); o; o = this.core.takeOutgoing()) this.#sendTo(o.data, o.to);
  }

  #sendTo(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) return;
    const address = this.#dualStack && isIPv4(to.address) ? `::ffff:${to.address}` : to.address;
    // Node sends at once when the kernel takes the datagram; only behind a full socket buffer does it
    // defer, and a deferred send reads its bytes later, after the core may have reused them. So copy
    // exactly then (rare), and never on the normal path.
    const payload = this.#socket.getSendQueueCount() > 0 ? Buffer.from(data) : data;
    this.#socket.send(payload, to.port, address, (err) => {
      if (err) this.sendErrors++;
    });
  }
}
