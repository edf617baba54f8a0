// The direct dialer: a kernel TCP connection from the datapath's own network namespace.

import { connect, type Socket } from 'node:net';
import { formatAddress, parseAddressLiteral } from '../policy/address.ts';
import {
  type DialContext,
  DialError,
  type DialErrorKind,
  type DialedStream,
  type Dialer,
  type DialTarget,
} from './dialer.ts';
import { OwnedReads } from './owned-reads.ts';

/** Maps a socket error code to a dial failure class. */
export function classifyDialError(code: string | undefined): DialErrorKind {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
      return 'no-route';
    default:
      return 'unreachable';
  }
}

export class DirectDialer implements Dialer {
  dial(target: DialTarget, ctx: DialContext): Promise<DialedStream> {
    return new Promise((resolve, reject) => {
      const host = formatAddress(target.address);
      let settled = false;
      // allowHalfOpen: the proxy forwards a FIN in one direction and keeps the other open.
      const reads = new OwnedReads();
      const sock: Socket = connect({
        host,
        port: target.port,
        allowHalfOpen: true,
        noDelay: true,
        onread: reads.onread,
      });
      reads.bind(sock);
      const finish = (err: DialError | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctx.signal?.removeEventListener('abort', onAbort);
        sock.removeListener('error', onError);
        if (err !== null) {
          sock.destroy();
          reject(err);
          return;
        }
        resolve({
          stream: sock,
          path: 'direct',
          localAddress: sock.localAddress === undefined ? null : parseAddressLiteral(sock.localAddress),
          localPort: sock.localPort ?? 0,
          reads,
        });
      };
      const onError = (e: NodeJS.ErrnoException) =>
        finish(new DialError(classifyDialError(e.code), `${host}:${target.port}: ${e.code ?? e.message}`));
      const onAbort = () => finish(new DialError('aborted', 'client went away'));
      const timer = setTimeout(
        () => finish(new DialError('timeout', `${host}:${target.port} after ${ctx.timeoutMs} ms`)),
        ctx.timeoutMs,
      );
      sock.once('error', onError);
      sock.once('connect', () => finish(null));
      if (ctx.signal?.aborted) onAbort();
      else ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
