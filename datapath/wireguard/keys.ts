// WireGuard keys in the format `wg` reads and prints: 32 bytes as 44 characters of standard base64.
import { generatePrivateKey, KEY_LENGTH, publicKeyOf, randomBytes } from './crypto/primitives.ts';

export class KeyFormatError extends Error {
  override name = 'KeyFormatError';
}

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Decodes a wg base64 key; throws KeyFormatError (never echoing the key, which may be secret). */
export function decodeKey(text: string, what = 'key'): Buffer {
  const t = text.trim();
  if (!BASE64_KEY.test(t)) throw new KeyFormatError(`${what} is not a 32-byte base64 WireGuard key`);
  const k = Buffer.from(t, 'base64');
  if (k.length !== KEY_LENGTH) throw new KeyFormatError(`${what} is not a 32-byte base64 WireGuard key`);
  return k;
}

export function encodeKey(key: Uint8Array): string {
  if (key.length !== KEY_LENGTH) throw new KeyFormatError(`a key has ${KEY_LENGTH} bytes, not ${key.length}`);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

/** `wg genkey`: a new clamped private key in base64. */
export function genkey(): string {
  return encodeKey(generatePrivateKey());
}

/** `wg pubkey`: the public key of a base64 private key. */
export function pubkey(privateKeyBase64: string): string {
  return encodeKey(publicKeyOf(decodeKey(privateKeyBase64, 'private key')));
}

/** `wg genpsk`: 32 random bytes (not clamped: it is no curve scalar) in base64. */
export function genpsk(): string {
  return encodeKey(randomBytes(KEY_LENGTH));
}
