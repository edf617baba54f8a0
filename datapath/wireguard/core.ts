// The sans-IO WireGuard core: one local identity, many peers. No sockets and no timers of its own.
//   encapsulate(innerPacket)        → a datagram to send (or: staged while a handshake runs, or refused)
//   decapsulate(datagram, from)     → an inner packet to deliver (or nothing, or a drop reason)
//   tick()                          → runs every timer that is due
//   takeOutgoing()                  → datagrams the core wants sent (handshakes, cookie replies,
//                                     keepalives, staged packets): drain it after every call above
// Time comes from an injected Clock, so tests drive every timer exactly. Protocol: whitepaper §5–6;
// the transitions follow wireguard-go's device/{noise-protocol,receive,send,timers}.go.

import { AllowedIps, type Cidr, formatCidr, parseCidr } from './allowed-ips.ts';
import type { Clock } from './clock.ts';
import { CookieChecker } from './cookie.ts';
import { aeadOpen, aeadSeal, generatePrivateKey, LowOrderPointError, zero } from './crypto/primitives.ts';
import { type DropReason, type SendFailure, WireGuardConfigError } from './errors.ts';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  type LocalIdentity,
  localIdentity,
  tai64n,
  zeroInitiator,
} from './handshake.ts';
import { Keypair } from './keypair.ts';
import { encodeKey } from './keys.ts';
import {
  COOKIE_RECEIVER,
  INIT_SENDER,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
  RESP_RECEIVER,
  RESP_SENDER,
  readCounter,
  readU32,
  TRANSPORT_COUNTER,
  TRANSPORT_HEADER_LENGTH,
  TRANSPORT_RECEIVER,
  writeCounter,
  writeU32,
} from './messages.ts';
import { type Endpoint, endpointEquals, Peer, type PeerStats } from './peer.ts';
import { DEFAULT_TIMINGS, maxHandshakeAttempts, type Timings } from './timings.ts';

export type { Endpoint, PeerStats };

export interface PeerConfig {
  /** 32-byte public key. */
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint | null;
  /** CIDRs, e.g. ['10.0.0.2/32', 'fd00::/64']. */
  allowedIps?: string[];
  /** Seconds; 0 or absent = off. */
  persistentKeepalive?: number;
}

export interface CoreOptions {
  privateKey: Uint8Array;
  clock: Clock;
  timings?: Partial<Timings>;
  /** Handshake messages per second above which the core is "under load" and demands cookies. */
  underLoadThreshold?: number;
  /** Inner packets kept per peer while waiting for a handshake (wireguard-go: 128). */
  maxStagedPackets?: number;
  /** Tunnel MTU: inner packets are padded to a multiple of 16 but never past it (default 1420). */
  mtu?: number;
  /** Random source for jitter in [0, 1); tests may fix it. */
  random?: () => number;
}

export interface Outgoing {
  data: Uint8Array;
  to: Endpoint;
  peer: string;
}

export type EncapsulateResult =
  | { kind: 'send'; data: Uint8Array; to: Endpoint; peer: string }
  | { kind: 'staged'; peer: string }
  | { kind: 'refused'; reason: SendFailure };

export type DecapsulateResult =
  | { kind: 'deliver'; packet: Uint8Array; peer: string }
  | { kind: 'handled' }
  | { kind: 'dropped'; reason: DropReason };

const HANDLED: DecapsulateResult = { kind: 'handled' };
const DROPS = new Map<DropReason, DecapsulateResult>();
function dropped(reason: DropReason): DecapsulateResult {
  let r = DROPS.get(reason);
  if (!r) {
    r = { kind: 'dropped', reason };
    DROPS.set(reason, r);
  }
  return r;
}

/** Per-source handshake budget while under load (wireguard-go ratelimiter: 20/s, burst 5). */
const SOURCE_RATE_PER_SECOND = 20;
const SOURCE_BURST = 5;
const OUT_RING = 256;

/** An output buffer with the views encryption needs: whole datagram, plaintext area, ciphertext+tag. */
interface SealViews {
  buffer: Buffer;
  datagram: Buffer;
  plaintext: Buffer;
  ciphertext: Buffer;
}

function sealViews(buffer: Buffer, total: number): SealViews {
  return {
    buffer,
    datagram: buffer.subarray(0, total),
    plaintext: buffer.subarray(TRANSPORT_HEADER_LENGTH, total - 16),
    ciphertext: buffer.subarray(TRANSPORT_HEADER_LENGTH, total),
  };
}
const MAX_INNER_PACKET = 65535;

export class WireGuardCore {
  readonly #clock: Clock;
  readonly #t: Timings;
  readonly #local: LocalIdentity;
  readonly #checker: CookieChecker;
  readonly #random: () => number;
  readonly #underLoadThreshold: number;
  readonly #maxStaged: number;
  readonly #mtu: number;
  readonly #peers = new Map<string, Peer>();
  readonly #byPublicKeyHex = new Map<string, Peer>();
  readonly #routes = new AllowedIps<Peer>();
  /** Local index → the peer and, for sessions, the keypair; handshakes are found via peer.handshake. */
  readonly #indices = new Map<number, { peer: Peer; keypair: Keypair | null }>();
  readonly #outbox: Outgoing[] = [];
  readonly #ring: SealViews[] = [];
  #ringPos = 0;
  #handshakeWindowStart = 0;
  #handshakeWindowCount = 0;
  #underLoadUntil = Number.NEGATIVE_INFINITY;
  #forceUnderLoad = false;
  readonly #sourceBuckets = new Map<string, { tokens: number; at: number }>();
  #lastTimestamp: Buffer = Buffer.alloc(12);

  /** Counts of every drop reason, and of the expensive handshake work done (for flood tests). */
  readonly drops = new Map<DropReason, number>();
  initiationsProcessed = 0;

  constructor(opts: CoreOptions) {
    this.#clock = opts.clock;
    this.#t = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.#local = localIdentity(opts.privateKey);
    this.#checker = new CookieChecker(this.#local.mac1Key, this.#local.cookieKey, this.#t.cookieRefreshTime);
    this.#random = opts.random ?? Math.random;
    this.#underLoadThreshold = opts.underLoadThreshold ?? 64;
    this.#maxStaged = opts.maxStagedPackets ?? 128;
    this.#mtu = opts.mtu ?? 1420;
  }

  get publicKey(): string {
    return encodeKey(this.#local.publicKey);
  }

  // ---- peers ------------------------------------------------------------------------------------

  addPeer(cfg: PeerConfig): void {
    const key = encodeKey(cfg.publicKey);
    if (this.#peers.has(key)) throw new WireGuardConfigError(`peer ${key} already exists`);
    if (Buffer.from(cfg.publicKey).equals(this.#local.publicKey)) {
      throw new WireGuardConfigError('a peer cannot have our own public key');
    }
    const cidrs = (cfg.allowedIps ?? []).map((c) => parseCidr(c));
    let peer: Peer;
    try {
      peer = new Peer(
        this.#local,
        key,
        cfg.publicKey,
        cfg.presharedKey,
        cfg.endpoint ?? null,
        cfg.persistentKeepalive ?? 0,
        this.#t,
      );
    } catch (e) {
      if (e instanceof LowOrderPointError)
        throw new WireGuardConfigError(`peer ${key}: public key is of low order`);
      throw e;
    }
    this.#peers.set(key, peer);
    this.#byPublicKeyHex.set(peer.remote.publicKey.toString('hex'), peer);
    for (const c of cidrs) this.#routes.insert(c, peer);
    if (peer.persistentKeepalive > 0) this.#armPersistentKeepalive(peer);
  }

  /** Changes a peer in place; sessions survive unless the preshared key changes. */
  updatePeer(publicKey: string, change: Omit<PeerConfig, 'publicKey'>): void {
    const peer = this.#mustPeer(publicKey);
    if (change.allowedIps !== undefined) {
      const cidrs = change.allowedIps.map((c) => parseCidr(c));
      this.#routes.removeValue(peer);
      for (const c of cidrs) this.#routes.insert(c, peer);
    }
    if (change.endpoint !== undefined) peer.endpoint = change.endpoint;
    if (change.persistentKeepalive !== undefined) {
      peer.persistentKeepalive = change.persistentKeepalive;
      if (peer.persistentKeepalive > 0) this.#armPersistentKeepalive(peer);
      else peer.persistentKeepaliveAt = Number.POSITIVE_INFINITY;
    }
    if (change.presharedKey !== undefined) {
      zero(peer.remote.presharedKey);
      peer.remote.presharedKey = Buffer.from(change.presharedKey);
      this.#zeroSessions(peer);
    }
  }

  removePeer(publicKey: string): void {
    const peer = this.#mustPeer(publicKey);
    this.#zeroSessions(peer);
    zero(peer.remote.presharedKey);
    zero(peer.remote.staticShared);
    this.#routes.removeValue(peer);
    this.#peers.delete(publicKey);
    this.#byPublicKeyHex.delete(peer.remote.publicKey.toString('hex'));
    for (let i = this.#outbox.length - 1; i >= 0; i--)
      if (this.#outbox[i].peer === publicKey) this.#outbox.splice(i, 1);
  }

  hasPeer(publicKey: string): boolean {
    return this.#peers.has(publicKey);
  }

  peerStats(): PeerStats[] {
    const now = this.#clock.now();
    return [...this.#peers.values()].map((p) => ({
      publicKey: p.publicKeyBase64,
      endpoint: p.endpoint,
      allowedIps: this.#routes.entriesOf(p).map((c: Cidr) => formatCidr(c)),
      lastHandshakeTime: p.lastHandshakeWall,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      persistentKeepalive: p.persistentKeepalive,
      connected: p.current !== null && this.#canSend(p.current, now),
    }));
  }

  /** Which sessions a peer holds right now (status and tests). */
  sessionInfo(publicKey: string): {
    previous: boolean;
    current: boolean;
    next: boolean;
    handshaking: boolean;
  } {
    const p = this.#mustPeer(publicKey);
    return {
      previous: p.previous !== null,
      current: p.current !== null,
      next: p.next !== null,
      handshaking: p.handshake !== null,
    };
  }

  /** Starts a handshake with a peer now (unless one was sent within rekeyTimeout). */
  initiateHandshake(publicKey: string): void {
    this.#sendInitiation(this.#mustPeer(publicKey), false);
  }

  /** Forces the under-load state (an adapter that sees its receive queue back up may set it). */
  setUnderLoad(on: boolean): void {
    this.#forceUnderLoad = on;
  }

  takeOutgoing(): Outgoing | undefined {
    return this.#outbox.shift();
  }

  // ---- sending ----------------------------------------------------------------------------------

  /**
   * Encrypts one inner IP packet for the peer whose allowed IPs hold its destination. The returned
   * datagram is a view into a buffer the core reuses after OUT_RING further calls: send it (or copy
   * it) before then.
   */
  encapsulate(packet: Uint8Array): EncapsulateResult {
    const version = packet.length > 0 ? packet[0] >> 4 : 0;
    let peer: Peer | undefined;
    if (version === 4 && packet.length >= 20) peer = this.#routes.lookup(packet, 16, 4);
    else if (version === 6 && packet.length >= 40) peer = this.#routes.lookup(packet, 24, 16);
    else return { kind: 'refused', reason: 'bad-packet' };
    if (packet.length > MAX_INNER_PACKET) return { kind: 'refused', reason: 'too-large' };
    if (!peer) return { kind: 'refused', reason: 'no-route' };
    if (!peer.endpoint) return { kind: 'refused', reason: 'no-endpoint' };
    const now = this.#clock.now();
    const kp = peer.current;
    if (kp && this.#canSend(kp, now)) {
      const data = this.#seal(peer, kp, packet, now);
      return { kind: 'send', data, to: peer.endpoint, peer: peer.publicKeyBase64 };
    }
    this.#stage(peer, packet);
    this.#sendInitiation(peer, false);
    return { kind: 'staged', peer: peer.publicKeyBase64 };
  }

  #stage(peer: Peer, packet: Uint8Array): void {
    if (peer.staged.length >= this.#maxStaged) peer.staged.shift();
    peer.staged.push(Uint8Array.from(packet));
  }

  #canSend(kp: Keypair, now: number): boolean {
    return (
      !kp.zeroed &&
      now - kp.createdAt < this.#t.rejectAfterTime &&
      kp.sendCounter < this.#t.rejectAfterMessages
    );
  }

  /** Encrypts into a ring buffer (no allocation once the ring is warm) and runs the send-side timers. */
  #seal(peer: Peer, kp: Keypair, packet: Uint8Array, now: number, out?: Buffer): Buffer {
    const len = packet.length;
    // Padding hides the exact length; it stops at the MTU so a full-size packet stays full-size.
    const padded = Math.min((len + 15) & ~15, Math.max(len, this.#mtu));
    const total = TRANSPORT_HEADER_LENGTH + padded + 16;
    let v: SealViews;
    if (out) {
      v = sealViews(out, total);
    } else {
      // Ring slot: the buffer and its three views are reused while packets keep the same size
      // (the common case), so a steady stream allocates nothing at all.
      const slot = this.#ringPos;
      this.#ringPos = (slot + 1) % OUT_RING;
      v = this.#ring[slot];
      if (!v || v.datagram.length !== total) {
        const buf = v && v.buffer.length >= total ? v.buffer : Buffer.allocUnsafe(Math.max(total, 1500));
        v = sealViews(buf, total);
        this.#ring[slot] = v;
      }
    }
    const d = v.datagram;
    writeU32(d, 0, MESSAGE_TRANSPORT);
    writeU32(d, TRANSPORT_RECEIVER, kp.remoteIndex);
    const counter = kp.sendCounter++;
    writeCounter(d, TRANSPORT_COUNTER, counter);
    d.set(packet, TRANSPORT_HEADER_LENGTH);
    if (padded > len) d.fill(0, TRANSPORT_HEADER_LENGTH + len, TRANSPORT_HEADER_LENGTH + padded);
    aeadSeal(kp.sendKey, counter, v.plaintext, null, v.ciphertext);
    peer.txBytes += total;
    this.#onAuthenticatedSent(peer, now);
    if (len > 0) this.#onDataSent(peer, now);
    // Keep the key fresh: the initiator of the current session rekeys after time or messages.
    if (
      kp.isInitiator &&
      (now - kp.createdAt >= this.#t.rekeyAfterTime || counter >= this.#t.rekeyAfterMessages)
    ) {
      this.#sendInitiation(peer, false);
    }
    return d;
  }

  #sendKeepalive(peer: Peer, now: number): void {
    const kp = peer.current;
    if (!peer.endpoint) return;
    if (kp && this.#canSend(kp, now)) {
      const data = this.#seal(peer, kp, new Uint8Array(0), now, Buffer.allocUnsafe(32));
      this.#outbox.push({ data, to: peer.endpoint, peer: peer.publicKeyBase64 });
    } else {
      this.#sendInitiation(peer, false);
    }
  }

  /** Sends what waited for a session; the initiator sends a keepalive when nothing waited (confirmation). */
  #flushStaged(peer: Peer, now: number, keepaliveIfEmpty: boolean): void {
    const kp = peer.current;
    if (!kp || !peer.endpoint || !this.#canSend(kp, now)) return;
    if (peer.staged.length === 0) {
      if (keepaliveIfEmpty) this.#sendKeepalive(peer, now);
      return;
    }
    const staged = peer.staged;
    peer.staged = [];
    for (const p of staged) {
      const data = this.#seal(peer, kp, p, now, Buffer.allocUnsafe(TRANSPORT_HEADER_LENGTH + p.length + 32));
      this.#outbox.push({ data, to: peer.endpoint, peer: peer.publicKeyBase64 });
    }
  }

  #sendInitiation(peer: Peer, isRetry: boolean): void {
    const now = this.#clock.now();
    if (!isRetry) {
      if (now - peer.lastHandshakeSentAt < this.#t.rekeyTimeout) return;
      peer.handshakeAttempts = 0;
    }
    if (!peer.endpoint) return;
    peer.lastHandshakeSentAt = now;
    this.#clearHandshake(peer);
    const localIndex = this.#newIndex(peer, null);
    const { message, state } = createInitiation(
      this.#local,
      peer.remote,
      localIndex,
      generatePrivateKey(),
      this.#timestamp(),
    );
    peer.handshake = state;
    peer.cookies.addMacs(message, now);
    peer.txBytes += message.length;
    this.#outbox.push({ data: message, to: peer.endpoint, peer: peer.publicKeyBase64 });
    this.#onAuthenticatedTraversal(peer, now);
    this.#onAuthenticatedSent(peer, now);
    peer.retransmitAt = now + this.#t.rekeyTimeout + Math.floor(this.#random() * this.#t.rekeyTimeoutJitter);
  }

  /** A strictly increasing TAI64N, so two initiations in the same millisecond are still ordered. */
  #timestamp(): Buffer {
    let ts: Buffer = tai64n(this.#clock.wallTime());
    if (Buffer.compare(ts, this.#lastTimestamp) <= 0) {
      ts = Buffer.from(this.#lastTimestamp);
      ts.writeUInt32BE(ts.readUInt32BE(8) + 1, 8);
    }
    this.#lastTimestamp = ts;
    return ts;
  }

  // ---- receiving --------------------------------------------------------------------------------

  /**
   * Handles one datagram from `from`. A delivered packet is a view into `datagram` (decrypted in
   * place), trimmed to the inner IP packet's own length. `sourceKnown` false: `from` is where the
   * datagram most likely came from, not what the socket reported (a connected socket read in a
   * burst), so no authenticated message moves its peer's endpoint there (unless it has none).
   */
  decapsulate(datagram: Uint8Array, from: Endpoint, sourceKnown = true): DecapsulateResult {
    const type = messageType(datagram);
    let r: DecapsulateResult;
    switch (type) {
      case MESSAGE_TRANSPORT:
        r = this.#receiveTransport(datagram, from, sourceKnown);
        break;
      case MESSAGE_INITIATION:
        r = this.#receiveInitiation(datagram, from, sourceKnown);
        break;
      case MESSAGE_RESPONSE:
        r = this.#receiveResponse(datagram, from, sourceKnown);
        break;
      case MESSAGE_COOKIE_REPLY:
        r = this.#receiveCookieReply(datagram);
        break;
      default:
        r = dropped('malformed');
    }
    if (r.kind === 'dropped') this.drops.set(r.reason, (this.drops.get(r.reason) ?? 0) + 1);
    return r;
  }

  #isUnderLoad(now: number): boolean {
    if (now - this.#handshakeWindowStart >= 1000) {
      this.#handshakeWindowStart = now;
      this.#handshakeWindowCount = 0;
    }
    this.#handshakeWindowCount++;
    if (this.#handshakeWindowCount > this.#underLoadThreshold) this.#underLoadUntil = now + 1000;
    return this.#forceUnderLoad || now < this.#underLoadUntil;
  }

  /** MAC1 always; under load MAC2 (else a cookie reply) and the per-source budget. */
  #admitHandshake(msg: Uint8Array, from: Endpoint, senderIndex: number, now: number): DropReason | null {
    if (!this.#checker.checkMac1(msg)) return 'bad-mac1';
    if (!this.#isUnderLoad(now)) return null;
    const source = Buffer.from(`${from.address}|${from.port}`);
    if (!this.#checker.checkMac2(msg, source, now)) {
      this.#outbox.push({
        data: this.#checker.createReply(msg, senderIndex, source, now),
        to: from,
        peer: '',
      });
      return 'bad-mac2';
    }
    return this.#takeSourceToken(from.address, now) ? null : 'rate-limited';
  }

  #takeSourceToken(address: string, now: number): boolean {
    let b = this.#sourceBuckets.get(address);
    if (!b) {
      b = { tokens: SOURCE_BURST, at: now };
      this.#sourceBuckets.set(address, b);
    }
    b.tokens = Math.min(SOURCE_BURST, b.tokens + ((now - b.at) * SOURCE_RATE_PER_SECOND) / 1000);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #receiveInitiation(msg: Uint8Array, from: Endpoint, sourceKnown: boolean): DecapsulateResult {
    const now = this.#clock.now();
    const senderIndex = readU32(msg, INIT_SENDER);
    const refused = this.#admitHandshake(msg, from, senderIndex, now);
    if (refused) return dropped(refused);
    this.initiationsProcessed++;
    const consumed = consumeInitiation(
      this.#local,
      msg,
      (pub) => this.#byPublicKeyHex.get(pub.toString('hex'))?.remote,
    );
    if (!consumed.ok) return dropped(consumed.error);
    const init = consumed.value;
    const peer = this.#byPublicKeyHex.get(init.remoteStaticPublic.toString('hex'))!;
    const discard = (reason: DropReason) => {
      zero(init.chainingKey);
      zero(init.hash);
      return dropped(reason);
    };
    if (Buffer.compare(init.timestamp, peer.lastTimestamp) <= 0) return discard('replayed-initiation');
    if (now - peer.lastInitiationConsumedAt < this.#t.initiationMinInterval)
      return discard('initiation-flood');
    peer.lastTimestamp = init.timestamp;
    peer.lastInitiationConsumedAt = now;
    if (sourceKnown || peer.endpoint === null) peer.endpoint = from;
    peer.rxBytes += msg.length;
    this.#onAuthenticatedTraversal(peer, now);
    this.#onAuthenticatedReceived(peer);

    const localIndex = this.#newIndex(peer, null);
    const { message, keys } = createResponse(peer.remote, init, localIndex, generatePrivateKey());
    const kp = new Keypair(keys, false, now);
    this.#indices.set(localIndex, { peer, keypair: kp });
    // Responder: the new session waits in `next` until the initiator uses it; older ones are dropped.
    this.#dropKeypair(peer.next);
    peer.next = kp;
    this.#dropKeypair(peer.previous);
    peer.previous = null;
    this.#onSessionDerived(peer, now);
    peer.cookies.addMacs(message, now);
    peer.txBytes += message.length;
    this.#outbox.push({ data: message, to: peer.endpoint ?? from, peer: peer.publicKeyBase64 });
    this.#onAuthenticatedSent(peer, now);
    return HANDLED;
  }

  #receiveResponse(msg: Uint8Array, from: Endpoint, sourceKnown: boolean): DecapsulateResult {
    const now = this.#clock.now();
    const refused = this.#admitHandshake(msg, from, readU32(msg, RESP_SENDER), now);
    if (refused) return dropped(refused);
    const entry = this.#indices.get(readU32(msg, RESP_RECEIVER));
    if (!entry) return dropped('unknown-index');
    const peer = entry.peer;
    const state = peer.handshake;
    if (entry.keypair !== null || !state || state.localIndex !== readU32(msg, RESP_RECEIVER)) {
      return dropped('unexpected-message');
    }
    const result = consumeResponse(this.#local, peer.remote, state, msg);
    if (!result.ok) return dropped(result.error);
    zeroInitiator(state);
    peer.handshake = null;
    const kp = new Keypair(result.keys, true, now);
    this.#indices.set(kp.localIndex, { peer, keypair: kp });
    // Initiator: the new session is confirmed by the response and becomes current at once.
    if (peer.next) {
      this.#dropKeypair(peer.previous);
      peer.previous = peer.next;
      peer.next = null;
      this.#dropKeypair(peer.current);
    } else {
      this.#dropKeypair(peer.previous);
      peer.previous = peer.current;
    }
    peer.current = kp;
    if (sourceKnown || peer.endpoint === null) peer.endpoint = from;
    peer.rxBytes += msg.length;
    this.#onHandshakeComplete(peer, now);
    this.#onSessionDerived(peer, now);
    this.#onAuthenticatedTraversal(peer, now);
    this.#onAuthenticatedReceived(peer);
    this.#flushStaged(peer, now, true);
    return HANDLED;
  }

  #receiveCookieReply(msg: Uint8Array): DecapsulateResult {
    const entry = this.#indices.get(readU32(msg, COOKIE_RECEIVER));
    if (!entry) return dropped('unknown-index');
    if (!entry.peer.cookies.consumeReply(msg, this.#clock.now())) return dropped('decrypt-failed');
    return HANDLED;
  }

  #receiveTransport(d: Uint8Array, from: Endpoint, sourceKnown: boolean): DecapsulateResult {
    const entry = this.#indices.get(readU32(d, TRANSPORT_RECEIVER));
    if (!entry?.keypair) return dropped('unknown-index');
    const { peer, keypair: kp } = entry;
    const now = this.#clock.now();
    if (kp.zeroed || now - kp.createdAt >= this.#t.rejectAfterTime) return dropped('expired-keypair');
    const counter = readCounter(d, TRANSPORT_COUNTER);
    if (counter < 0 || counter >= this.#t.rejectAfterMessages) return dropped('counter-too-large');
    const plain = d.subarray(TRANSPORT_HEADER_LENGTH, d.length - 16);
    if (!aeadOpen(kp.receiveKey, counter, d.subarray(TRANSPORT_HEADER_LENGTH), null, plain)) {
      return dropped('decrypt-failed');
    }
    if (kp.replay.check(counter) !== 'ok') return dropped('replay');

    // Authenticated from here on.
    if (kp === peer.next) {
      // Key confirmation: the initiator used the session we answered, so it becomes current.
      this.#dropKeypair(peer.previous);
      peer.previous = peer.current;
      peer.current = kp;
      peer.next = null;
      this.#onHandshakeComplete(peer, now);
      this.#flushStaged(peer, now, false);
    }
    if (sourceKnown && !endpointEquals(peer.endpoint, from)) peer.endpoint = from; // roaming
    peer.rxBytes += d.length;
    this.#onAuthenticatedTraversal(peer, now);
    this.#onAuthenticatedReceived(peer);
    // Keep the key fresh from the receive side: the initiator rekeys before the session is rejected.
    if (
      kp === peer.current &&
      kp.isInitiator &&
      !peer.sentLastMinuteHandshake &&
      now - kp.createdAt >= this.#t.rejectAfterTime - this.#t.keepaliveTimeout - this.#t.rekeyTimeout
    ) {
      peer.sentLastMinuteHandshake = true;
      this.#sendInitiation(peer, false);
    }
    if (plain.length === 0) return HANDLED; // keepalive

    // Cryptokey routing, receive side: the inner source must be one of this peer's allowed IPs.
    const version = plain[0] >> 4;
    let length: number;
    let source: Peer | undefined;
    if (version === 4 && plain.length >= 20) {
      length = (plain[2] << 8) | plain[3];
      source = this.#routes.lookup(plain, 12, 4);
    } else if (version === 6 && plain.length >= 40) {
      length = 40 + ((plain[4] << 8) | plain[5]);
      source = this.#routes.lookup(plain, 8, 16);
    } else {
      return dropped('bad-inner-packet');
    }
    if (length > plain.length || length < (version === 4 ? 20 : 40)) return dropped('bad-inner-packet');
    if (source !== peer) return dropped('source-not-allowed');
    this.#onDataReceived(peer, now);
    const packet = length === plain.length ? plain : plain.subarray(0, length);
    return { kind: 'deliver', packet, peer: peer.publicKeyBase64 };
  }

  // ---- timers -----------------------------------------------------------------------------------

  /** Runs every due timer of every peer. Call it often (the UDP device: every 100 ms). */
  tick(): void {
    const now = this.#clock.now();
    for (const peer of this.#peers.values()) {
      if (now >= peer.retransmitAt) {
        peer.retransmitAt = Number.POSITIVE_INFINITY;
        if (peer.handshakeAttempts >= maxHandshakeAttempts(this.#t)) {
          // Give up (the whitepaper's 90 s): drop what waited, wipe everything later.
          this.#clearHandshake(peer);
          peer.staged = [];
          if (peer.zeroKeysAt === Number.POSITIVE_INFINITY)
            peer.zeroKeysAt = now + 3 * this.#t.rejectAfterTime;
        } else {
          peer.handshakeAttempts++;
          this.#sendInitiation(peer, true);
        }
      }
      if (now >= peer.keepaliveAt) {
        peer.keepaliveAt = Number.POSITIVE_INFINITY;
        this.#sendKeepalive(peer, now);
        // Data kept arriving while this keepalive was pending: one more interval of keepalives.
        if (peer.needAnotherKeepalive) {
          peer.needAnotherKeepalive = false;
          peer.keepaliveAt = now + this.#t.keepaliveTimeout;
        }
      }
      if (now >= peer.newHandshakeAt) {
        // We sent data and heard nothing back for keepalive + rekey timeout: the session may be dead.
        peer.newHandshakeAt = Number.POSITIVE_INFINITY;
        this.#sendInitiation(peer, false);
      }
      if (now >= peer.zeroKeysAt) {
        peer.zeroKeysAt = Number.POSITIVE_INFINITY;
        this.#zeroSessions(peer);
      }
      if (now >= peer.persistentKeepaliveAt) {
        peer.persistentKeepaliveAt = Number.POSITIVE_INFINITY;
        this.#sendKeepalive(peer, now);
        if (peer.persistentKeepalive > 0 && peer.persistentKeepaliveAt === Number.POSITIVE_INFINITY) {
          this.#armPersistentKeepalive(peer);
        }
      }
    }
    for (const [addr, b] of this.#sourceBuckets) if (now - b.at > 1000) this.#sourceBuckets.delete(addr);
  }

  /** The earliest armed deadline (monotonic ms), for adapters that schedule precisely. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.#peers.values()) {
      next = Math.min(
        next,
        p.retransmitAt,
        p.keepaliveAt,
        p.newHandshakeAt,
        p.zeroKeysAt,
        p.persistentKeepaliveAt,
      );
    }
    return next;
  }

  #onAuthenticatedSent(peer: Peer, _now: number): void {
    peer.keepaliveAt = Number.POSITIVE_INFINITY;
  }
  #onAuthenticatedReceived(peer: Peer): void {
    peer.newHandshakeAt = Number.POSITIVE_INFINITY;
  }
  #onAuthenticatedTraversal(peer: Peer, now: number): void {
    if (peer.persistentKeepalive > 0) this.#armPersistentKeepalive(peer, now);
  }
  #armPersistentKeepalive(peer: Peer, now = this.#clock.now()): void {
    peer.persistentKeepaliveAt = now + peer.persistentKeepalive * 1000;
  }
  #onDataSent(peer: Peer, now: number): void {
    if (peer.newHandshakeAt === Number.POSITIVE_INFINITY) {
      peer.newHandshakeAt = now + this.#t.keepaliveTimeout + this.#t.rekeyTimeout;
    }
  }
  #onDataReceived(peer: Peer, now: number): void {
    if (peer.keepaliveAt === Number.POSITIVE_INFINITY) peer.keepaliveAt = now + this.#t.keepaliveTimeout;
    else peer.needAnotherKeepalive = true;
  }
  #onHandshakeComplete(peer: Peer, _now: number): void {
    peer.retransmitAt = Number.POSITIVE_INFINITY;
    peer.handshakeAttempts = 0;
    peer.sentLastMinuteHandshake = false;
    peer.lastHandshakeWall = this.#clock.wallTime();
  }
  #onSessionDerived(peer: Peer, now: number): void {
    peer.zeroKeysAt = now + 3 * this.#t.rejectAfterTime;
  }

  // ---- key material -----------------------------------------------------------------------------

  #newIndex(peer: Peer, keypair: Keypair | null): number {
    const b = new Uint32Array(1);
    for (;;) {
      crypto.getRandomValues(b);
      if (b[0] !== 0 && !this.#indices.has(b[0])) break;
    }
    this.#indices.set(b[0], { peer, keypair });
    return b[0];
  }

  #clearHandshake(peer: Peer): void {
    if (!peer.handshake) return;
    this.#indices.delete(peer.handshake.localIndex);
    zeroInitiator(peer.handshake);
    peer.handshake = null;
  }

  #dropKeypair(kp: Keypair | null): void {
    if (!kp) return;
    this.#indices.delete(kp.localIndex);
    kp.zero();
  }

  #zeroSessions(peer: Peer): void {
    this.#clearHandshake(peer);
    this.#dropKeypair(peer.previous);
    this.#dropKeypair(peer.current);
    this.#dropKeypair(peer.next);
    peer.previous = peer.current = peer.next = null;
    peer.retransmitAt = peer.keepaliveAt = peer.newHandshakeAt = peer.zeroKeysAt = Number.POSITIVE_INFINITY;
    peer.staged = [];
  }

  /** Wipes every key this core holds (sessions, handshakes, preshared keys, our private key). */
  destroy(): void {
    for (const key of [...this.#peers.keys()]) this.removePeer(key);
    this.#outbox.length = 0;
    zero(this.#local.privateKey);
  }

  #mustPeer(publicKey: string): Peer {
    const p = this.#peers.get(publicKey);
    if (!p) throw new WireGuardConfigError(`no peer ${publicKey}`);
    return p;
  }
}
