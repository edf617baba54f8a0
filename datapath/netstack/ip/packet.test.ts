import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAddress, parseAddress } from './address.ts';
import { checksum, finishChecksum, pseudoHeaderSum } from './checksum.ts';
import { buildIpPacket, PROTO_TCP, PROTO_UDP, parseIpPacket } from './packet.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('internet checksum', () => {
  it('matches the RFC 1071 worked example', () => {
    // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to 0xddf2 after folding; the checksum is its complement.
    assert.equal(checksum(hex('0001f203f4f5f6f7')), ~0xddf2 & 0xffff);
  });
  it('pads an odd trailing byte with zero', () => {
    assert.equal(checksum(hex('0001f203f4f5f6f7ab')), checksum(hex('0001f203f4f5f6f7ab00')));
  });
  it('verifies a known IPv4 header (sums to zero with its checksum in place)', () => {
    const header = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    assert.equal(checksum(header), 0);
  });
  it('the 32-bit fast path agrees with the byte-wise sum at every alignment and length', () => {
    const big = Buffer.alloc(4096);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
    const slow = (b: Uint8Array, s: number, e: number) => {
      let sum = 0;
      for (let i = s; i + 1 < e; i += 2) sum += (b[i] << 8) | b[i + 1];
      if ((e - s) & 1) sum += b[e - 1] << 8;
      return finishChecksum(sum);
    };
    for (const start of [0, 1, 2, 3, 4, 8, 20, 40]) {
      for (const len of [0, 1, 127, 128, 129, 130, 131, 1380, 1381, 1420, 4000]) {
        const end = Math.min(big.length, start + len);
        assert.equal(checksum(big, start, end), slow(big, start, end), `start ${start} length ${len}`);
        const view = big.subarray(start, end);
        assert.equal(checksum(view), slow(big, start, end), `view at ${start} length ${len}`);
      }
    }
  });
  it('pseudo-header sum treats lengths above 16 bits as two words', () => {
    const a = parseAddress('::1');
    assert.equal(pseudoHeaderSum(a, a, 6, 0x10002) - pseudoHeaderSum(a, a, 6, 2), 1);
  });
});

describe('addresses', () => {
  for (const text of [
    '10.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '::',
    '::1',
    'fd00::1',
    '2001:db8::1:0:0:1',
  ]) {
    it(`round-trips ${text}`, () => assert.equal(formatAddress(parseAddress(text)), text));
  }
  it('reads an embedded dotted quad', () => {
    assert.equal(formatAddress(parseAddress('::ffff:10.1.2.3')), '::ffff:a01:203');
    assert.equal(formatAddress(parseAddress('64:ff9b::192.0.2.1')), '64:ff9b::c000:201');
  });
  it('does not compress a single zero word (RFC 5952)', () => {
    assert.equal(formatAddress(parseAddress('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  });
  it('rejects what is not an address', () => {
    assert.throws(() => parseAddress('10.0.0.256'), /not an IP address/);
    assert.throws(() => parseAddress('example.com'), /not an IP address/);
  });
});

describe('IPv4 packets', () => {
  const src = parseAddress('10.0.0.1');
  const dst = parseAddress('10.0.0.2');
  it('builds a header with a valid checksum, DF and the given TTL, and parses it back', () => {
    const pkt = buildIpPacket(
      { src, dst, protocol: PROTO_UDP, ttl: 17, identification: 0x1234 },
      hex('deadbeef'),
    );
    assert.equal(pkt.length, 24);
    assert.equal(checksum(pkt, 0, 20), 0);
    assert.equal(pkt[6] & 0x40, 0x40);
    const r = parseIpPacket(pkt);
    assert.ok(r.ok);
    assert.equal(r.packet.version, 4);
    assert.equal(formatAddress(r.packet.src), '10.0.0.1');
    assert.equal(formatAddress(r.packet.dst), '10.0.0.2');
    assert.equal(r.packet.protocol, PROTO_UDP);
    assert.equal(r.packet.ttl, 17);
    assert.deepEqual(r.packet.payload, hex('deadbeef'));
  });
  it('trims link padding past the total length', () => {
    const pkt = Buffer.concat([buildIpPacket({ src, dst, protocol: PROTO_TCP }, hex('01')), hex('000000')]);
    const r = parseIpPacket(pkt);
    assert.ok(r.ok);
    assert.equal(r.packet.payload.length, 1);
  });
  it('drops a corrupted header', () => {
    const pkt = buildIpPacket({ src, dst, protocol: PROTO_TCP }, hex('01'));
    pkt[8] ^= 1;
    assert.deepEqual(parseIpPacket(pkt), { ok: false, reason: 'bad-header-checksum' });
  });
  it('drops fragments: more-fragments set, or a non-zero offset', () => {
    for (const [b6, b7] of [
      [0x20, 0x00],
      [0x00, 0x10],
    ]) {
      const pkt = buildIpPacket({ src, dst, protocol: PROTO_TCP }, hex('01'));
      pkt[6] = b6;
      pkt[7] = b7;
      pkt.writeUInt16BE(0, 10);
      pkt.writeUInt16BE(checksum(pkt, 0, 20), 10);
      assert.deepEqual(parseIpPacket(pkt), { ok: false, reason: 'fragment' });
    }
  });
  it('drops truncated packets and bad lengths', () => {
    const pkt = buildIpPacket({ src, dst, protocol: PROTO_TCP }, hex('0102'));
    assert.deepEqual(parseIpPacket(pkt.subarray(0, 21)), { ok: false, reason: 'truncated' });
    assert.deepEqual(parseIpPacket(pkt.subarray(0, 10)), { ok: false, reason: 'truncated' });
    assert.deepEqual(parseIpPacket(Buffer.alloc(0)), { ok: false, reason: 'truncated' });
    const bad = Buffer.from(pkt);
    bad[0] = 0x44;
    assert.deepEqual(parseIpPacket(bad), { ok: false, reason: 'bad-header-length' });
    bad[0] = 0x55;
    assert.deepEqual(parseIpPacket(bad), { ok: false, reason: 'bad-version' });
  });
});

describe('IPv6 packets', () => {
  const src = parseAddress('fd00::1');
  const dst = parseAddress('fd00::2');
  it('builds and parses back', () => {
    const pkt = buildIpPacket({ src, dst, protocol: PROTO_TCP, ttl: 9 }, hex('cafe'));
    assert.equal(pkt.length, 42);
    const r = parseIpPacket(pkt);
    assert.ok(r.ok);
    assert.equal(r.packet.version, 6);
    assert.equal(formatAddress(r.packet.src), 'fd00::1');
    assert.equal(r.packet.ttl, 9);
    assert.equal(r.packet.protocol, PROTO_TCP);
    assert.deepEqual(r.packet.payload, hex('cafe'));
  });
  it('walks past a destination-options header to the upper layer', () => {
    const ext = hex('06 00 0104 00000000'); // next=TCP, len 0 (8 bytes), PadN option
    const pkt = buildIpPacket({ src, dst, protocol: 60 }, Buffer.concat([ext, hex('cafe')]));
    const r = parseIpPacket(pkt);
    assert.ok(r.ok);
    assert.equal(r.packet.protocol, PROTO_TCP);
    assert.deepEqual(r.packet.payload, hex('cafe'));
  });
  it('drops a fragment header and a truncated extension header', () => {
    const frag = buildIpPacket({ src, dst, protocol: 44 }, hex('06 00 0000 00000001 cafe'));
    assert.deepEqual(parseIpPacket(frag), { ok: false, reason: 'fragment' });
    const cut = buildIpPacket({ src, dst, protocol: 0 }, hex('06 05 0000'));
    assert.deepEqual(parseIpPacket(cut), { ok: false, reason: 'bad-extension-header' });
  });
  it('refuses to build a header from mixed address families', () => {
    assert.throws(
      () => buildIpPacket({ src, dst: parseAddress('10.0.0.1'), protocol: 6 }, hex('')),
      RangeError,
    );
  });
});
