// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper §5.4.2–5.4.5): building and
// consuming the initiation and the response, and deriving the transport keys. Pure functions over
// explicit state; randomness (ephemeral keys) comes from the caller. Every intermediate secret is
// zeroed as soon as it is no longer needed. MACs are added and checked by cookie.ts.
import {
  AEAD_TAG_LENGTH,
  aeadOpen,
  aeadSeal,
  dh,
  hash,
  KEY_LENGTH,
  kdf,
  LowOrderPointError,
  publicKeyOf,
  zero,
} from './crypto/primitives.ts';
import {
  INIT_EPHEMERAL,
  INIT_SENDER,
  INIT_STATIC,
  INIT_TIMESTAMP,
  INITIATION_LENGTH,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESP_EMPTY,
  RESP_EPHEMERAL,
  RESP_RECEIVER,
  RESP_SENDER,
  RESPONSE_LENGTH,
  readU32,
  writeU32,
} from './messages.ts';

const CONSTRUCTION = Buffer.from('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const IDENTIFIER = Buffer.from('WireGuard v1 zx2c4 Jason@zx2c4.com');
export const LABEL_MAC1 = Buffer.from('mac1----');
export const LABEL_COOKIE = Buffer.from('cookie--');

/** C_i = HASH(CONSTRUCTION), H_i = HASH(C_i || IDENTIFIER): the same for every handshake. */
const INITIAL_CHAIN = hash(CONSTRUCTION);
const INITIAL_HASH = hash(INITIAL_CHAIN, IDENTIFIER);
const EMPTY = new Uint8Array(0);

/** Our own static identity and the keys derived from it once. */
export interface LocalIdentity {
  privateKey: Buffer;
  publicKey: Buffer;
  /** HASH(LABEL_MAC1 || our public key): peers compute MAC1 of messages to us with it. */
  mac1Key: Buffer;
  /** HASH(LABEL_COOKIE || our public key): we encrypt cookie replies with it. */
  cookieKey: Buffer;
}

export function localIdentity(privateKey: Uint8Array): LocalIdentity {
  const priv = Buffer.from(privateKey);
  const pub = publicKeyOf(priv);
  return {
    privateKey: priv,
    publicKey: pub,
    mac1Key: hash(LABEL_MAC1, pub),
    cookieKey: hash(LABEL_COOKIE, pub),
  };
}

/** What we know about a remote static key, precomputed when the peer is added. */
export interface RemoteStatic {
  publicKey: Buffer;
  presharedKey: Buffer;
  /** DH(our static, their static); throws LowOrderPointError at construction for a low-order key. */
  staticShared: Buffer;
  mac1Key: Buffer;
  cookieKey: Buffer;
}

export function remoteStatic(
  local: LocalIdentity,
  publicKey: Uint8Array,
  presharedKey?: Uint8Array,
): RemoteStatic {
  const pub = Buffer.from(publicKey);
  return {
    publicKey: pub,
    presharedKey: presharedKey ? Buffer.from(presharedKey) : Buffer.alloc(KEY_LENGTH),
    staticShared: dh(local.privateKey, pub),
    mac1Key: hash(LABEL_MAC1, pub),
    cookieKey: hash(LABEL_COOKIE, pub),
  };
}

/** The initiator's state between sending the initiation and consuming the response. */
export interface InitiatorState {
  localIndex: number;
  ephemeralPrivate: Buffer;
  chainingKey: Buffer;
  hash: Buffer;
}

/** The transport keys of a completed handshake, from this side's point of view. */
export interface SessionKeys {
  sendKey: Buffer;
  receiveKey: Buffer;
  localIndex: number;
  remoteIndex: number;
}

export function zeroInitiator(s: InitiatorState): void {
  zero(s.ephemeralPrivate);
  zero(s.chainingKey);
  zero(s.hash);
}

function mixHash(h: Buffer, data: Uint8Array): Buffer {
  const next = hash(h, data);
  zero(h);
  return next;
}

/** TAI64N: 8-byte big-endian seconds since 1970 + 2^62, then 4-byte big-endian nanoseconds. */
export function tai64n(wallMs: number): Buffer {
  const t = Buffer.alloc(12);
  const secs = Math.floor(wallMs / 1000);
  t.writeUInt32BE(0x4000_0000 + Math.floor(secs / 0x1_0000_0000), 0);
  t.writeUInt32BE(secs % 0x1_0000_0000, 4);
  t.writeUInt32BE(Math.floor(wallMs % 1000) * 1_000_000, 8);
  return t;
}

/**
 * Builds a handshake initiation (MAC fields left zero) to `remote`. `ephemeralPrivate` is consumed
 * (kept in the returned state, zeroed with it).
 */
export function createInitiation(
  local: LocalIdentity,
  remote: RemoteStatic,
  localIndex: number,
  ephemeralPrivate: Buffer,
  timestamp: Uint8Array,
): { message: Buffer; state: InitiatorState } {
  const msg = Buffer.alloc(INITIATION_LENGTH);
  writeU32(msg, 0, MESSAGE_INITIATION);
  writeU32(msg, INIT_SENDER, localIndex);
  let h: Buffer = hash(INITIAL_HASH, remote.publicKey);
  let ck: Buffer = Buffer.from(INITIAL_CHAIN);
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  msg.set(ephemeralPublic, INIT_EPHEMERAL);
  [ck] = replace(ck, kdf(1, ck, ephemeralPublic));
  h = mixHash(h, ephemeralPublic);
  // es
  const es = dh(ephemeralPrivate, remote.publicKey);
  let key: Buffer;
  [ck, key] = replace(ck, kdf(2, ck, es));
  zero(es);
  const staticField = msg.subarray(INIT_STATIC, INIT_STATIC + KEY_LENGTH + AEAD_TAG_LENGTH);
  aeadSeal(key, 0, local.publicKey, h, staticField);
  zero(key);
  h = mixHash(h, staticField);
  // ss
  [ck, key] = replace(ck, kdf(2, ck, remote.staticShared));
  const tsField = msg.subarray(INIT_TIMESTAMP, INIT_TIMESTAMP + 12 + AEAD_TAG_LENGTH);
  aeadSeal(key, 0, timestamp, h, tsField);
  zero(key);
  h = mixHash(h, tsField);
  return { message: msg, state: { localIndex, ephemeralPrivate, chainingKey: ck, hash: h } };
}

/** The responder's view of a consumed initiation, before it answers. */
export interface ConsumedInitiation {
  remoteIndex: number;
  remoteStaticPublic: Buffer;
  remoteEphemeral: Buffer;
  timestamp: Buffer;
  chainingKey: Buffer;
  hash: Buffer;
}

export type ConsumeError = 'decrypt-failed' | 'unknown-peer' | 'low-order-key';

/**
 * Consumes an initiation addressed to `local` (MAC1 already checked). `findPeer` maps the decrypted
 * initiator static key to the peer we know, or undefined.
 */
export function consumeInitiation(
  local: LocalIdentity,
  msg: Uint8Array,
  findPeer: (staticPublic: Buffer) => RemoteStatic | undefined,
): { ok: true; value: ConsumedInitiation; peer: RemoteStatic } | { ok: false; error: ConsumeError } {
  let h: Buffer = hash(INITIAL_HASH, local.publicKey);
  let ck: Buffer = Buffer.from(INITIAL_CHAIN);
  const ephemeral = Buffer.from(msg.subarray(INIT_EPHEMERAL, INIT_EPHEMERAL + KEY_LENGTH));
  [ck] = replace(ck, kdf(1, ck, ephemeral));
  h = mixHash(h, ephemeral);
  let es: Buffer;
  try {
    es = dh(local.privateKey, ephemeral);
  } catch (e) {
    zero(ck);
    zero(h);
    if (e instanceof LowOrderPointError) return { ok: false, error: 'low-order-key' };
    throw e;
  }
  let key: Buffer;
  [ck, key] = replace(ck, kdf(2, ck, es));
  zero(es);
  const staticField = msg.subarray(INIT_STATIC, INIT_STATIC + KEY_LENGTH + AEAD_TAG_LENGTH);
  const staticPublic = Buffer.alloc(KEY_LENGTH);
  const opened = aeadOpen(key, 0, staticField, h, staticPublic);
  zero(key);
  if (!opened) {
    zero(ck);
    zero(h);
    return { ok: false, error: 'decrypt-failed' };
  }
  h = mixHash(h, staticField);
  const peer = findPeer(staticPublic);
  if (!peer) {
    zero(ck);
    zero(h);
    return { ok: false, error: 'unknown-peer' };
  }
  [ck, key] = replace(ck, kdf(2, ck, peer.staticShared));
  const tsField = msg.subarray(INIT_TIMESTAMP, INIT_TIMESTAMP + 12 + AEAD_TAG_LENGTH);
  const timestamp = Buffer.alloc(12);
  const tsOk = aeadOpen(key, 0, tsField, h, timestamp);
  zero(key);
  if (!tsOk) {
    zero(ck);
    zero(h);
    return { ok: false, error: 'decrypt-failed' };
  }
  h = mixHash(h, tsField);
  return {
    ok: true,
    peer,
    value: {
      remoteIndex: readU32(msg, INIT_SENDER),
      remoteStaticPublic: staticPublic,
      remoteEphemeral: ephemeral,
      timestamp,
      chainingKey: ck,
      hash: h,
    },
  };
}

/** Builds the response to a consumed initiation and derives the responder's transport keys. */
export function createResponse(
  remote: RemoteStatic,
  init: ConsumedInitiation,
  localIndex: number,
  ephemeralPrivate: Buffer,
): { message: Buffer; keys: SessionKeys } {
  const msg = Buffer.alloc(RESPONSE_LENGTH);
  writeU32(msg, 0, MESSAGE_RESPONSE);
  writeU32(msg, RESP_SENDER, localIndex);
  writeU32(msg, RESP_RECEIVER, init.remoteIndex);
  let ck = init.chainingKey;
  let h = init.hash;
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  msg.set(ephemeralPublic, RESP_EPHEMERAL);
  [ck] = replace(ck, kdf(1, ck, ephemeralPublic));
  h = mixHash(h, ephemeralPublic);
  // ee, se (the initiator's ephemeral was checked for low order when it was consumed: es)
  const ee = dh(ephemeralPrivate, init.remoteEphemeral);
  [ck] = replace(ck, kdf(1, ck, ee));
  zero(ee);
  const se = dh(ephemeralPrivate, remote.publicKey);
  [ck] = replace(ck, kdf(1, ck, se));
  zero(se);
  zero(ephemeralPrivate);
  // psk
  const [ck3, tau, key] = replace(ck, kdf(3, ck, remote.presharedKey));
  ck = ck3;
  h = mixHash(h, tau);
  zero(tau);
  const emptyField = msg.subarray(RESP_EMPTY, RESP_EMPTY + AEAD_TAG_LENGTH);
  aeadSeal(key, 0, EMPTY, h, emptyField);
  zero(key);
  h = mixHash(h, emptyField);
  zero(h);
  const [receiveKey, sendKey] = kdf(2, ck, EMPTY);
  zero(ck);
  return { message: msg, keys: { sendKey, receiveKey, localIndex, remoteIndex: init.remoteIndex } };
}

/** Consumes a response (MAC1 already checked) to our initiation; zeroes `state` either way. */
export function consumeResponse(
  local: LocalIdentity,
  remote: RemoteStatic,
  state: InitiatorState,
  msg: Uint8Array,
): { ok: true; keys: SessionKeys } | { ok: false; error: ConsumeError } {
  let ck: Buffer = Buffer.from(state.chainingKey);
  let h: Buffer = Buffer.from(state.hash);
  const fail = (error: ConsumeError) => {
    zero(ck);
    zero(h);
    return { ok: false as const, error };
  };
  const ephemeral = msg.subarray(RESP_EPHEMERAL, RESP_EPHEMERAL + KEY_LENGTH);
  [ck] = replace(ck, kdf(1, ck, ephemeral));
  h = mixHash(h, ephemeral);
  let ee: Buffer;
  let se: Buffer;
  try {
    ee = dh(state.ephemeralPrivate, ephemeral);
    se = dh(local.privateKey, ephemeral);
  } catch (e) {
    if (e instanceof LowOrderPointError) return fail('low-order-key');
    throw e;
  }
  [ck] = replace(ck, kdf(1, ck, ee));
  zero(ee);
  [ck] = replace(ck, kdf(1, ck, se));
  zero(se);
  const [ck3, tau, key] = replace(ck, kdf(3, ck, remote.presharedKey));
  ck = ck3;
  h = mixHash(h, tau);
  zero(tau);
  const emptyField = msg.subarray(RESP_EMPTY, RESP_EMPTY + AEAD_TAG_LENGTH);
  const ok = aeadOpen(key, 0, emptyField, h, new Uint8Array(0));
  zero(key);
  if (!ok) return fail('decrypt-failed');
  const [sendKey, receiveKey] = kdf(2, ck, EMPTY);
  zero(ck);
  zero(h);
  return {
    ok: true,
    keys: { sendKey, receiveKey, localIndex: state.localIndex, remoteIndex: readU32(msg, RESP_SENDER) },
  };
}

/** Zeroes the chaining key being replaced by a KDF output; returns the outputs unchanged. */
function replace(old: Buffer, outputs: Buffer[]): Buffer[] {
  zero(old);
  return outputs;
}
