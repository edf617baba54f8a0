// The cryptographic primitives of WireGuard (whitepaper §5.4), each from the library that is fastest
// or only available for it on Node 24:
//   HASH      BLAKE2s-256           node:crypto
//   HMAC/KDF  HMAC-BLAKE2s          node:crypto
//   MAC       keyed BLAKE2s-128     @noble/hashes (node:crypto has no keyed BLAKE2s)
//   AEAD      ChaCha20-Poly1305     sodium-native (per packet; a node:crypto cipher per packet is ~10x slower)
//   XAEAD     XChaCha20-Poly1305    sodium-native (cookies)
//   DH        X25519                sodium-native
// Pure computation, no I/O.
import { createHash, createHmac } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { sodium } from './sodium.ts';

export const KEY_LENGTH = 32;
export const HASH_LENGTH = 32;
export const MAC_LENGTH = 16;
export const AEAD_TAG_LENGTH = 16;
export const XNONCE_LENGTH = 24;

/** A Diffie-Hellman result that is all zeros: the peer's public key is of low order. */
export class LowOrderPointError extends Error {
  override name = 'LowOrderPointError';
}

/** HASH(a || b || ...) with BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF_n(key, input) of the whitepaper (HKDF with HMAC-BLAKE2s); returns n 32-byte outputs. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Buffer[] {
  const prk = hmac(key, input);
  const t1 = hmac(prk, ONE);
  const out = [t1];
  if (n >= 2) out.push(hmac(prk, t1, TWO));
  if (n >= 3) out.push(hmac(prk, out[1], THREE));
  sodium.sodium_memzero(prk);
  return out;
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_LENGTH });
}

/** X25519(privateKey, publicKey); throws LowOrderPointError when the result is all zeros. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  const out = Buffer.alloc(KEY_LENGTH);
  try {
    sodium.crypto_scalarmult(out, privateKey, publicKey);
  } catch {
    throw new LowOrderPointError('public key is of low order (X25519 result is zero)');
  }
  return out;
}

export function publicKeyOf(privateKey: Uint8Array): Buffer {
  const out = Buffer.alloc(KEY_LENGTH);
  sodium.crypto_scalarmult_base(out, privateKey);
  return out;
}

export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  sodium.randombytes_buf(out);
  return out;
}

/** A fresh X25519 private key, clamped as `wg genkey` prints it. */
export function generatePrivateKey(): Buffer {
  const k = randomBytes(KEY_LENGTH);
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

export function zero(buf: Uint8Array | null | undefined): void {
  if (buf) sodium.sodium_memzero(buf);
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// AEAD with a 64-bit counter nonce (32 zero bits || little-endian counter), as WireGuard uses it.
// One module-level nonce buffer: the process is single-threaded and nothing awaits between set and use.
const nonce = Buffer.alloc(12);
const TWO_32 = 0x1_0000_0000;

function setNonce(counter: number): void {
  nonce.writeUInt32LE(counter % TWO_32, 4);
  nonce.writeUInt32LE(Math.floor(counter / TWO_32), 8);
}

/** Encrypts `plaintext` into `out` (length plaintext + 16). `out` may start at the same byte (in place). */
export function aeadSeal(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
): void {
  setNonce(counter);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
}

/** Decrypts `ciphertext` (tag included) into `out` (length ciphertext - 16); false when it does not verify. */
export function aeadOpen(
  key: Uint8Array,
  counter: number,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
): boolean {
  setNonce(counter);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
    return true;
  } catch {
    return false;
  }
}

export function xaeadSeal(
  key: Uint8Array,
  xnonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): void {
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, xnonce, key);
}

export function xaeadOpen(
  key: Uint8Array,
  xnonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): boolean {
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, xnonce, key);
    return true;
  } catch {
    return false;
  }
}
