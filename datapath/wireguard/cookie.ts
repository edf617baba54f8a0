// MAC1/MAC2 and cookie replies (whitepaper §5.3, §5.4.7): the DoS defence in front of the handshake.
// MAC1 proves the sender knows our public key and is checked on every handshake message before any
// Diffie-Hellman. Under load a handshake must also carry MAC2, keyed by a cookie that only a sender
// able to receive at its source address can have; without it the answer is a cheap cookie reply.
// Pure apart from randomness for the cookie secret and nonce.
import {
  constantTimeEqual,
  MAC_LENGTH,
  mac,
  randomBytes,
  XNONCE_LENGTH,
  xaeadOpen,
  xaeadSeal,
  zero,
} from './crypto/primitives.ts';
import {
  COOKIE_BODY,
  COOKIE_NONCE,
  COOKIE_RECEIVER,
  COOKIE_REPLY_LENGTH,
  MESSAGE_COOKIE_REPLY,
  mac1Offset,
  writeU32,
} from './messages.ts';

/** Responder side: checks MACs of messages to us and issues cookies. One per core. */
export class CookieChecker {
  readonly #mac1Key: Buffer;
  readonly #cookieKey: Buffer;
  readonly #refreshMs: number;
  #secret = randomBytes(32);
  #secretSetAt = Number.NEGATIVE_INFINITY;

  constructor(mac1Key: Buffer, cookieKey: Buffer, refreshMs: number) {
    this.#mac1Key = mac1Key;
    this.#cookieKey = cookieKey;
    this.#refreshMs = refreshMs;
  }

  checkMac1(msg: Uint8Array): boolean {
    const off = mac1Offset(msg.length);
    return constantTimeEqual(mac(this.#mac1Key, msg.subarray(0, off)), msg.subarray(off, off + MAC_LENGTH));
  }

  checkMac2(msg: Uint8Array, source: Uint8Array, now: number): boolean {
    const off = mac1Offset(msg.length) + MAC_LENGTH;
    const cookie = this.#cookieFor(source, now);
    return constantTimeEqual(mac(cookie, msg.subarray(0, off)), msg.subarray(off, off + MAC_LENGTH));
  }

  /** A cookie reply to handshake message `msg` (whose sender index is `senderIndex`) from `source`. */
  createReply(msg: Uint8Array, senderIndex: number, source: Uint8Array, now: number): Buffer {
    const off = mac1Offset(msg.length);
    const reply = Buffer.alloc(COOKIE_REPLY_LENGTH);
    writeU32(reply, 0, MESSAGE_COOKIE_REPLY);
    writeU32(reply, COOKIE_RECEIVER, senderIndex);
    const nonce = randomBytes(XNONCE_LENGTH);
    reply.set(nonce, COOKIE_NONCE);
    const cookie = this.#cookieFor(source, now);
    xaeadSeal(
      this.#cookieKey,
      nonce,
      cookie,
      msg.subarray(off, off + MAC_LENGTH),
      reply.subarray(COOKIE_BODY),
    );
    return reply;
  }

  /** Cookie = MAC(R_m, source address bytes); R_m changes every two minutes. */
  #cookieFor(source: Uint8Array, now: number): Uint8Array {
    if (now - this.#secretSetAt >= this.#refreshMs) {
      zero(this.#secret);
      this.#secret = randomBytes(32);
      this.#secretSetAt = now;
    }
    return mac(this.#secret, source);
  }
}

/** Initiator side, per peer: adds MAC1/MAC2 to our handshake messages and takes in cookie replies. */
export class CookieGenerator {
  readonly #mac1Key: Buffer;
  readonly #cookieKey: Buffer;
  readonly #refreshMs: number;
  #cookie: Uint8Array | null = null;
  #cookieAt = 0;
  #lastMac1: Uint8Array | null = null;

  /** `mac1Key` / `cookieKey` are derived from the remote peer's public key. */
  constructor(mac1Key: Buffer, cookieKey: Buffer, refreshMs: number) {
    this.#mac1Key = mac1Key;
    this.#cookieKey = cookieKey;
    this.#refreshMs = refreshMs;
  }

  /** Writes MAC1 and (when we hold a fresh cookie) MAC2 into `msg`. */
  addMacs(msg: Uint8Array, now: number): void {
    const off = mac1Offset(msg.length);
    const m1 = mac(this.#mac1Key, msg.subarray(0, off));
    msg.set(m1, off);
    this.#lastMac1 = m1;
    if (this.#cookie && now - this.#cookieAt < this.#refreshMs) {
      msg.set(mac(this.#cookie, msg.subarray(0, off + MAC_LENGTH)), off + MAC_LENGTH);
    } else {
      msg.fill(0, off + MAC_LENGTH, off + 2 * MAC_LENGTH);
    }
  }

  /** Decrypts a cookie reply to our last message; false when it does not authenticate. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.#lastMac1) return false;
    const cookie = Buffer.alloc(MAC_LENGTH);
    const nonce = reply.subarray(COOKIE_NONCE, COOKIE_NONCE + XNONCE_LENGTH);
    if (!xaeadOpen(this.#cookieKey, nonce, reply.subarray(COOKIE_BODY), this.#lastMac1, cookie)) return false;
    this.#cookie = cookie;
    this.#cookieAt = now;
    return true;
  }

  hasCookie(now: number): boolean {
    return this.#cookie !== null && now - this.#cookieAt < this.#refreshMs;
  }
}
