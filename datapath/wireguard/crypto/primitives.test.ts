// The primitives against their published vectors: X25519 (RFC 7748), ChaCha20-Poly1305 (RFC 8439),
// BLAKE2s (RFC 7693 and the BLAKE2 keyed KAT), and the KDF against wireguard-go's device/kdf_test.go.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blake2s } from '@noble/hashes/blake2.js';
import {
  aeadOpen,
  aeadSeal,
  dh,
  hash,
  kdf,
  LowOrderPointError,
  mac,
  publicKeyOf,
  xaeadOpen,
  xaeadSeal,
} from './primitives.ts';
import { sodium } from './sodium.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('X25519 matches RFC 7748 §5.2 and the §6.1 Diffie-Hellman example', () => {
  const scalar = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
  const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
  assert.equal(
    dh(scalar, u).toString('hex'),
    'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  );
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.equal(
    publicKeyOf(alice).toString('hex'),
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  );
  assert.equal(
    publicKeyOf(bob).toString('hex'),
    'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  );
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(dh(alice, publicKeyOf(bob)).toString('hex'), shared);
  assert.equal(dh(bob, publicKeyOf(alice)).toString('hex'), shared);
});

test('X25519 with a low-order public key is refused', () => {
  const priv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  for (const low of [
    Buffer.alloc(32), // 0
    Buffer.concat([Buffer.of(1), Buffer.alloc(31)]), // 1
    hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'), // order 8
  ]) {
    assert.throws(() => dh(priv, low), LowOrderPointError);
  }
});

test('ChaCha20-Poly1305 matches RFC 8439 §2.8.2', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('070000004041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const pt = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const ct = Buffer.alloc(pt.length + 16);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(ct, pt, ad, null, nonce, key);
  assert.equal(
    ct.subarray(0, pt.length).toString('hex'),
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
      '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116',
  );
  assert.equal(ct.subarray(pt.length).toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('the WireGuard AEAD nonce form round-trips in place and refuses a wrong counter or tampering', () => {
  const key = Buffer.alloc(32, 7);
  const buf = Buffer.alloc(64 + 16);
  buf.write('hello wireguard');
  const copy = Buffer.from(buf.subarray(0, 64));
  aeadSeal(key, 5, buf.subarray(0, 64), null, buf);
  assert.notDeepEqual(buf.subarray(0, 64), copy);
  const ct = Buffer.from(buf);
  assert.equal(aeadOpen(key, 6, ct, null, Buffer.alloc(64)), false);
  ct[3] ^= 1;
  assert.equal(aeadOpen(key, 5, ct, null, Buffer.alloc(64)), false);
  assert.equal(aeadOpen(key, 5, buf, null, buf.subarray(0, 64)), true);
  assert.deepEqual(buf.subarray(0, 64), copy);
});

test('XChaCha20-Poly1305 round-trips and binds its additional data', () => {
  const key = Buffer.alloc(32, 3);
  const nonce = Buffer.alloc(24, 9);
  const out = Buffer.alloc(32);
  xaeadSeal(key, nonce, Buffer.alloc(16, 1), Buffer.from('ad'), out);
  const back = Buffer.alloc(16);
  assert.equal(xaeadOpen(key, nonce, out, Buffer.from('ad'), back), true);
  assert.deepEqual(back, Buffer.alloc(16, 1));
  assert.equal(xaeadOpen(key, nonce, out, Buffer.from('other'), back), false);
});

test('BLAKE2s-256 matches RFC 7693 Appendix B; keyed BLAKE2s matches the BLAKE2 KAT', () => {
  assert.equal(
    hash(Buffer.from('abc')).toString('hex'),
    '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
  );
  assert.equal(
    hash(Buffer.from('a'), Buffer.from('bc')).toString('hex'),
    hash(Buffer.from('abc')).toString('hex'),
  );
  // blake2s-kat.txt, keyed, empty input, 32-byte output; MAC is the same function cut to 16 bytes
  // (BLAKE2 encodes the output length in its parameter block, so MAC is not a prefix of this).
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  assert.equal(
    Buffer.from(blake2s(new Uint8Array(0), { key, dkLen: 32 })).toString('hex'),
    '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49',
  );
  assert.equal(mac(key, new Uint8Array(0)).length, 16);
});

test('KDF1/2/3 match wireguard-go device/kdf_test.go', () => {
  const vectors = [
    {
      key: '746573742d6b6579',
      input: '746573742d696e707574',
      t: [
        '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
        'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
        'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
      ],
    },
    {
      key: '776972656775617264',
      input: '776972656775617264',
      t: [
        '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
        '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
        '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
      ],
    },
    {
      key: '',
      input: '',
      t: [
        '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
        '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
        '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
      ],
    },
  ];
  for (const v of vectors) {
    for (const n of [1, 2, 3] as const) {
      const out = kdf(n, hex(v.key), hex(v.input)).map((b) => b.toString('hex'));
      assert.deepEqual(out, v.t.slice(0, n));
    }
  }
});
