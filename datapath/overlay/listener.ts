// Forwards on the overlay: a StreamListener that accepts TCP connections on the sandbox's overlay
// address inside the netstack. The peer's address given to allowFrom is the inner packet's source
// address, which WireGuard has already checked against the sending peer's allowed IPs (cryptokey
// routing), so a peer cannot claim another peer's address.
import type { Duplex } from 'node:stream';
import type { PeerInfo, StreamListener } from '../forward/listener.ts';
import { formatAddress } from '../netstack/ip/address.ts';
import type { NetstackRuntime } from '../netstack/runtime.ts';
import { bytesToAddress } from './addresses.ts';

export class OverlayListener implements StreamListener {
  readonly description: string;
  private readonly runtime: NetstackRuntime;
  private readonly address: Uint8Array;
  private readonly port: number;
  private readonly peerName: (address: Uint8Array) => string | null;
  private handle: { close(): void } | null = null;

  constructor(
    runtime: NetstackRuntime,
    address: Uint8Array,
    port: number,
    peerName: (a: Uint8Array) => string | null,
  ) {
    this.runtime = runtime;
    this.address = address;
    this.port = port;
    this.peerName = peerName;
    this.description = `overlay ${formatAddress(address)}:${port}`;
  }

  start(onStream: (stream: Duplex, peer: PeerInfo) => void): Promise<{ address: string; port: number }> {
    this.handle = this.runtime.listen(
      this.port,
      (s) => {
        const remote = s.conn.remoteAddress;
        onStream(s, {
          address: bytesToAddress(remote),
          port: s.conn.remotePort,
          name: this.peerName(remote),
        });
      },
      this.address,
    );
    return Promise.resolve({ address: formatAddress(this.address), port: this.port });
  }

  close(): Promise<void> {
    this.handle?.close();
    this.handle = null;
    return Promise.resolve();
  }
}
