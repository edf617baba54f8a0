// Test infrastructure: a lossy UDP relay placed between two WireGuard endpoints, because this kernel
// has no netem. Each side sends to the relay; the relay forwards to the other side, dropping,
// duplicating or delaying datagrams with a seeded random source, so a run is repeatable in what it
// decides (not in timing). Side A is whoever is configured as `a`; anything else that talks to the
// relay is treated as side B and remembered (wireguard-go may change ports when restarted).
import dgram from 'node:dgram';
import { seededRandom } from '../testing/seeded-random.ts';

export interface RelayEndpoint {
  address: string;
  port: number;
}

export interface RelayOptions {
  /** Where the relay listens (an address both sides can reach). */
  listenAddress: string;
  a: RelayEndpoint;
  b: RelayEndpoint;
  /** Probability that a datagram is dropped, each direction. */
  loss?: number;
  duplicate?: number;
  /** Probability that a datagram is held back by `reorderDelayMs` (so later ones overtake it). */
  reorder?: number;
  reorderDelayMs?: number;
  seed?: number;
}

export interface RelayStats {
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export class UdpRelay {
  readonly stats: RelayStats = { forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };
  loss: number;
  duplicate: number;
  reorder: number;
  private readonly reorderDelayMs: number;
  private readonly socket: dgram.Socket;
  private readonly random: () => number;
  private readonly a: RelayEndpoint;
  private b: RelayEndpoint;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(socket: dgram.Socket, opts: RelayOptions) {
    this.socket = socket;
    this.a = opts.a;
    this.b = opts.b;
    this.loss = opts.loss ?? 0;
    this.duplicate = opts.duplicate ?? 0;
    this.reorder = opts.reorder ?? 0;
    this.reorderDelayMs = opts.reorderDelayMs ?? 5;
    this.random = seededRandom(opts.seed ?? 1);
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  static async start(opts: RelayOptions): Promise<UdpRelay> {
    const socket = dgram.createSocket(opts.listenAddress.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, opts.listenAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(4 << 20);
      socket.setSendBufferSize(4 << 20);
    } catch {
      // capped by the kernel; the default still works
    }
    return new UdpRelay(socket, opts);
  }

  get port(): number {
    return this.socket.address().port;
  }

  private onMessage(msg: Buffer, from: dgram.RemoteInfo): void {
    const fromA = from.address === this.a.address && from.port === this.a.port;
    if (!fromA) this.b = { address: from.address, port: from.port };
    const to = fromA ? this.b : this.a;
    if (this.random() < this.loss) {
      this.stats.dropped++;
      return;
    }
    const send = () => {
      this.stats.forwarded++;
      this.socket.send(msg, to.port, to.address);
    };
    if (this.random() < this.reorder) {
      this.stats.reordered++;
      const t = setTimeout(() => {
        this.timers.delete(t);
        send();
      }, this.reorderDelayMs);
      this.timers.add(t);
    } else send();
    if (this.random() < this.duplicate) {
      this.stats.duplicated++;
      send();
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await new Promise<void>((r) => this.socket.close(() => r()));
  }
}
