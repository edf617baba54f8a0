// The protocol's time and message limits (whitepaper §6.1), in milliseconds. Overridable per core so
// tests and the interop test can shorten them; production uses the defaults.
export interface Timings {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
  rekeyAttemptTime: number;
  rekeyTimeout: number;
  /** Random extra delay added to each handshake retransmission, up to this many ms. */
  rekeyTimeoutJitter: number;
  keepaliveTimeout: number;
  cookieRefreshTime: number;
  /** Minimum spacing of initiations accepted from one peer (wireguard-go: 50 per second). */
  initiationMinInterval: number;
}

export const DEFAULT_TIMINGS: Readonly<Timings> = Object.freeze({
  rekeyAfterMessages: 2 ** 60,
  // 2^64 - 2^13 - 1 in the protocol; counters beyond 2^53 are refused anyway (messages.ts).
  rejectAfterMessages: 2 ** 53,
  rekeyAfterTime: 120_000,
  rejectAfterTime: 180_000,
  rekeyAttemptTime: 90_000,
  rekeyTimeout: 5_000,
  rekeyTimeoutJitter: 333,
  keepaliveTimeout: 10_000,
  cookieRefreshTime: 120_000,
  initiationMinInterval: 20,
});

/** How many initiations are sent before giving up: rekeyAttemptTime / rekeyTimeout (18). */
export function maxHandshakeAttempts(t: Timings): number {
  return Math.ceil(t.rekeyAttemptTime / t.rekeyTimeout);
}
