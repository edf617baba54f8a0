import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeKey, genkey, KeyFormatError, pubkey } from './keys.ts';

test('pubkey of the RFC 7748 Alice key, in wg base64', () => {
  const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  const expected = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex');
  assert.equal(pubkey(alice.toString('base64')), expected.toString('base64'));
});

test('genkey gives clamped 32-byte keys, different each time', () => {
  const a = decodeKey(genkey());
  const b = decodeKey(genkey());
  assert.notDeepEqual(a, b);
  assert.equal(a[0] & 7, 0);
  assert.equal(a[31] & 0xc0, 0x40);
});

test('malformed keys are refused without echoing them', () => {
  for (const bad of ['', 'abc', `${'A'.repeat(43)}`, `${'A'.repeat(42)}B=`, `${'A'.repeat(44)}=`]) {
    assert.throws(
      () => decodeKey(bad, 'private key'),
      (e: unknown) => e instanceof KeyFormatError && !e.message.includes(bad || '\u0000'),
    );
  }
});
