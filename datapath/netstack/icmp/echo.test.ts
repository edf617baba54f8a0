import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAddress } from '../ip/address.ts';
import { parseIpPacket } from '../ip/packet.ts';
import { buildEchoRequest, echoReplyFor, ICMPV4_ECHO_REPLY, ICMPV6_ECHO_REPLY, parseEcho } from './echo.ts';

function parsed(buf: Buffer) {
  const r = parseIpPacket(buf);
  assert.ok(r.ok, 'packet parses');
  return r.packet;
}

describe('ICMP echo', () => {
  for (const [family, a, b, replyType] of [
    ['IPv4', '10.9.0.1', '10.9.0.2', ICMPV4_ECHO_REPLY],
    ['IPv6', 'fd00::1', 'fd00::2', ICMPV6_ECHO_REPLY],
  ] as const) {
    it(`${family}: answers a request with the same id, sequence and data, addressed back`, () => {
      const req = buildEchoRequest(parseAddress(a), parseAddress(b), 0x4242, 7, Buffer.from('ping payload'));
      const reply = echoReplyFor(parsed(req));
      assert.ok(reply);
      const p = parsed(reply);
      assert.deepEqual(p.src, parseAddress(b));
      assert.deepEqual(p.dst, parseAddress(a));
      const echo = parseEcho(p);
      assert.ok(echo, 'reply checksum verifies');
      assert.equal(echo.type, replyType);
      assert.equal(echo.identifier, 0x4242);
      assert.equal(echo.sequence, 7);
      assert.equal(echo.data.toString(), 'ping payload');
    });
    it(`${family}: does not answer a reply, or a request with a bad checksum`, () => {
      const req = buildEchoRequest(parseAddress(a), parseAddress(b), 1, 1);
      const reply = echoReplyFor(parsed(req))!;
      assert.equal(echoReplyFor(parsed(reply)), null);
      const corrupt = Buffer.from(req);
      corrupt[corrupt.length - 1] ^= 0xff;
      assert.equal(echoReplyFor(parsed(corrupt)), null);
    });
  }
});
