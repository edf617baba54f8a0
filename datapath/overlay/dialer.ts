// The overlay dialer: TCP to a destination inside a peer's allowed IPs, through the userspace netstack
// (and from there the WireGuard device). Netstack failures become the datapath's DialError kinds, so
// the proxy answers SOCKS5/HTTP clients with the right reply code.
import type { DialContext, DialedStream, Dialer, DialTarget } from '../dial/dialer.ts';
import { DialError } from '../dial/dialer.ts';
import type { NetstackRuntime } from '../netstack/runtime.ts';
import { NetstackError } from '../netstack/stack.ts';
import { TcpError } from '../netstack/tcp/connection.ts';
import { formatEndpoint } from '../policy/address.ts';
import { addressToBytes, bytesToAddress } from './addresses.ts';

export class OverlayDialer implements Dialer {
  private readonly runtime: NetstackRuntime;
  private readonly path: string;

  /** `path` is what audit records show, e.g. `overlay:<peer name>`. */
  constructor(runtime: NetstackRuntime, path: string) {
    this.runtime = runtime;
    this.path = path;
  }

  async dial(target: DialTarget, ctx: DialContext): Promise<DialedStream> {
    const where = formatEndpoint(target.address, target.port);
    if (ctx.signal?.aborted) throw new DialError('aborted', 'client went away');
    let onAbort: (() => void) | null = null;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new DialError('aborted', 'client went away'));
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const connecting = this.runtime.connect(addressToBytes(target.address), target.port, ctx.timeoutMs);
    try {
      const stream = await Promise.race([connecting, aborted]);
      return {
        stream,
        path: this.path,
        localAddress: bytesToAddress(stream.conn.localAddress),
        localPort: stream.conn.localPort,
      };
    } catch (e) {
      // A connection that completes after an abort must not linger.
      connecting.then(
        (s) => s.destroy(),
        () => {},
      );
      if (e instanceof DialError) throw e;
      if (e instanceof TcpError) {
        const kind = e.code === 'refused' ? 'refused' : e.code === 'timeout' ? 'timeout' : 'unreachable';
        throw new DialError(kind, `${where} over the overlay: ${e.message}`);
      }
      // No local port left: what Linux's connect() reports as EADDRNOTAVAIL, which the direct dialer
      // classifies as no-route too.
      if (e instanceof NetstackError && e.code === 'ports-exhausted')
        throw new DialError('no-route', `${where} over the overlay: ${e.message}`);
      throw new DialError('unreachable', `${where} over the overlay: ${String(e)}`);
    } finally {
      if (onAbort !== null) ctx.signal?.removeEventListener('abort', onAbort);
    }
  }
}
