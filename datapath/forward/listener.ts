// Where forwards accept connections. Standalone: a local TCP address. With the overlay up, the
// netstack engineer provides a StreamListener that accepts on the overlay IP; the forwarder does not
// care which.

import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { type IPAddress, parseAddressLiteral } from '../policy/address.ts';

/** Who connected: the peer's address (and, on the overlay, its name for allowFrom by name). */
export interface PeerInfo {
  readonly address: IPAddress | null;
  readonly port: number;
  readonly name: string | null;
}

export interface StreamListener {
  /** e.g. `127.0.0.1:8080` or `overlay 100.64.0.2:8080` */
  readonly description: string;
  start(onStream: (stream: Duplex, peer: PeerInfo) => void): Promise<{ address: string; port: number }>;
  /** stops accepting; open streams are not touched */
  close(): Promise<void>;
}

export class TcpStreamListener implements StreamListener {
  readonly description: string;
  private readonly host: string;
  private readonly port: number;
  private server: Server | null = null;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.description = `${host}:${port}`;
  }

  start(onStream: (stream: Duplex, peer: PeerInfo) => void): Promise<{ address: string; port: number }> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      const address = s.remoteAddress === undefined ? null : parseAddressLiteral(s.remoteAddress);
      onStream(s, { address, port: s.remotePort ?? 0, name: null });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.port }, () => {
        server.removeListener('error', reject);
        const a = server.address();
        if (a === null || typeof a === 'string') reject(new Error('forward listener has no address'));
        else resolve({ address: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
