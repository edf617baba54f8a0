// The one way the datapath opens outbound streams. Callers hand it an address the policy has already
// checked (never a name), so what is dialed is exactly what was judged. Implementations: the direct
// dialer (node:net, in direct.ts) and, later, an overlay dialer over the userspace netstack; a
// RoutingDialer picks one per destination.

import type { Duplex } from 'node:stream';
import type { IPAddress } from '../policy/address.ts';
import type { OwnedReads } from './owned-reads.ts';

export interface DialTarget {
  readonly address: IPAddress;
  readonly port: number;
}

export interface DialContext {
  /** connection id, for logs and for dialers that keep per-connection state */
  readonly connId: string;
  /** the dial gives up (DialError 'timeout') after this long */
  readonly timeoutMs: number;
  /** aborted when the client goes away or the datapath shuts down while dialing */
  readonly signal?: AbortSignal;
}

export interface DialedStream {
  readonly stream: Duplex;
  /** `direct`, or `overlay:<peer name>` — written to the audit record's `path` */
  readonly path: string;
  /** the local end of the outbound connection, reported as BND.ADDR/BND.PORT to SOCKS5 clients */
  readonly localAddress: IPAddress | null;
  readonly localPort: number;
  /** set when `stream` is a kernel socket read into owned buffers: its bytes arrive there, not as 'data' */
  readonly reads?: OwnedReads;
}

/** Classified dial failures; each maps to one SOCKS5 reply and one HTTP status. */
export type DialErrorKind = 'refused' | 'unreachable' | 'timeout' | 'no-route' | 'aborted';

export class DialError extends Error {
  readonly kind: DialErrorKind;
  constructor(kind: DialErrorKind, detail: string) {
    super(`dial ${kind}: ${detail}`);
    this.name = 'DialError';
    this.kind = kind;
  }
}

export interface Dialer {
  /** Opens a stream to the target, or rejects with a DialError. */
  dial(target: DialTarget, ctx: DialContext): Promise<DialedStream>;
}

/** A route: destinations it claims (e.g. a peer's allowed IPs) and the dialer that reaches them. */
export interface DialRoute {
  readonly name: string;
  matches(address: IPAddress): boolean;
  readonly dialer: Dialer;
}

/**
 * Chooses the dialer per destination: the first route that claims the address, else the fallback
 * (the direct dialer). Routes can be replaced at run time (the overlay's netmap changes).
 */
export class RoutingDialer implements Dialer {
  private routes: readonly DialRoute[] = [];
  private readonly fallback: Dialer;

  constructor(fallback: Dialer) {
    this.fallback = fallback;
  }

  setRoutes(routes: readonly DialRoute[]): void {
    this.routes = routes;
  }

  dial(target: DialTarget, ctx: DialContext): Promise<DialedStream> {
    for (const r of this.routes) if (r.matches(target.address)) return r.dialer.dial(target, ctx);
    return this.fallback.dial(target, ctx);
  }
}
