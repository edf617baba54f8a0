// Everything the core keeps about one remote peer. Plain state; the transitions live in core.ts so
// that the protocol reads in one place. Timer deadlines are monotonic ms, Infinity when not armed
// (one tick checks them all, like boringtun's update_timers, instead of one timer object each).
import { CookieGenerator } from './cookie.ts';
import type { InitiatorState, LocalIdentity, RemoteStatic } from './handshake.ts';
import { remoteStatic } from './handshake.ts';
import type { Keypair } from './keypair.ts';
import type { Timings } from './timings.ts';

export interface Endpoint {
  address: string;
  port: number;
}

export function endpointEquals(a: Endpoint | null, b: Endpoint): boolean {
  return a !== null && a.port === b.port && a.address === b.address;
}

/** The peer's statistics as `/status`, `/metrics` and `wg show` present them. */
export interface PeerStats {
  publicKey: string;
  endpoint: Endpoint | null;
  allowedIps: string[];
  /** Wall-clock ms of the last completed handshake, 0 when none. */
  lastHandshakeTime: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
  /** True while a current session exists that may still send. */
  connected: boolean;
}

export class Peer {
  readonly publicKeyBase64: string;
  remote: RemoteStatic;
  cookies: CookieGenerator;
  endpoint: Endpoint | null;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;

  previous: Keypair | null = null;
  current: Keypair | null = null;
  next: Keypair | null = null;
  handshake: InitiatorState | null = null;

  /** Newest handshake timestamp (TAI64N) accepted from this peer: older or equal ones are replays. */
  lastTimestamp: Buffer = Buffer.alloc(12);
  lastInitiationConsumedAt = Number.NEGATIVE_INFINITY;
  lastHandshakeSentAt = Number.NEGATIVE_INFINITY;
  handshakeAttempts = 0;
  sentLastMinuteHandshake = false;

  retransmitAt = Number.POSITIVE_INFINITY;
  keepaliveAt = Number.POSITIVE_INFINITY;
  /** Data arrived while a passive keepalive was already pending (wireguard-go's needAnotherKeepalive). */
  needAnotherKeepalive = false;
  newHandshakeAt = Number.POSITIVE_INFINITY;
  zeroKeysAt = Number.POSITIVE_INFINITY;
  persistentKeepaliveAt = Number.POSITIVE_INFINITY;

  /** Inner packets waiting for a session (copies), oldest first. */
  staged: Uint8Array[] = [];

  rxBytes = 0;
  txBytes = 0;
  lastHandshakeWall = 0;

  constructor(
    local: LocalIdentity,
    publicKeyBase64: string,
    publicKey: Uint8Array,
    presharedKey: Uint8Array | undefined,
    endpoint: Endpoint | null,
    persistentKeepalive: number,
    timings: Timings,
  ) {
    this.publicKeyBase64 = publicKeyBase64;
    this.remote = remoteStatic(local, publicKey, presharedKey);
    this.cookies = new CookieGenerator(this.remote.mac1Key, this.remote.cookieKey, timings.cookieRefreshTime);
    this.endpoint = endpoint;
    this.persistentKeepalive = persistentKeepalive;
  }
}
