import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Socks5Handshake, socks5Reply } from './socks5.ts';

const feed = (...chunks: number[][]) => {
  const h = new Socks5Handshake();
  const sent: number[] = [];
  let outcome = null;
  for (const c of chunks) {
    const p = h.push(Buffer.from(c));
    for (const b of p.send) sent.push(...b);
    if (p.outcome !== null) outcome = p.outcome;
  }
  return { sent, outcome };
};

test('no-auth CONNECT to a domain, split across arbitrary chunk boundaries', () => {
  const bytes = [5, 1, 0, 5, 1, 0, 3, 7, ...Buffer.from('example'), 1, 187, 0x41];
  for (let cut = 1; cut < bytes.length - 1; cut++) {
    const { sent, outcome } = feed(bytes.slice(0, cut), bytes.slice(cut));
    assert.deepEqual(sent, [5, 0]);
    assert.ok(outcome !== null && outcome.kind === 'request', `cut ${cut}`);
    assert.equal(outcome.host, 'example');
    assert.equal(outcome.port, 443);
    assert.deepEqual([...outcome.rest], [0x41], 'optimistic data is kept for the upstream');
  }
});

test('username/password is preferred and the user name is the session id', () => {
  const { sent, outcome } = feed(
    [5, 2, 0, 2],
    [1, 3, ...Buffer.from('abc'), 1, 0x70],
    [5, 1, 0, 1, 10, 0, 0, 1, 0, 80],
  );
  assert.deepEqual(sent, [5, 2, 1, 0]);
  assert.ok(outcome?.kind === 'request');
  assert.equal(outcome.username, 'abc');
  assert.equal(outcome.host, '10.0.0.1');
});

test('IPv6 address type', () => {
  const { outcome } = feed([5, 1, 0], [5, 1, 0, 4, ...Buffer.alloc(15), 1, 0, 22]);
  assert.ok(outcome?.kind === 'request');
  assert.equal(outcome.host, '::1');
  assert.equal(outcome.atyp, 'ipv6');
});

test('failures carry the right reply', () => {
  assert.deepEqual(feed([4, 1]).outcome, { kind: 'fail', why: 'unsupported SOCKS version 4', reply: null });
  const noMethod = feed([5, 1, 0x80]);
  assert.deepEqual(noMethod.sent, [5, 0xff]);
  const bind = feed([5, 1, 0], [5, 2, 0, 1, 1, 2, 3, 4, 0, 80]);
  assert.equal(bind.outcome?.kind === 'fail' && bind.outcome.reply, 0x07);
  const udp = feed([5, 1, 0], [5, 3, 0, 1, 1, 2, 3, 4, 0, 80]);
  assert.equal(udp.outcome?.kind === 'fail' && udp.outcome.reply, 0x07);
  const atyp = feed([5, 1, 0], [5, 1, 0, 7, 1, 2, 3, 4, 0, 80]);
  assert.equal(atyp.outcome?.kind === 'fail' && atyp.outcome.reply, 0x08);
  const badAuth = feed([5, 1, 2], [2, 0, 0]);
  assert.deepEqual(badAuth.sent, [5, 2, 1, 1]);
});

test('a truncated handshake waits; an oversized one fails', () => {
  assert.equal(feed([5, 3, 0]).outcome, null);
  assert.equal(feed([5, 1, 0], [5, 1, 0, 3, 200, 0x61]).outcome, null);
  const h = new Socks5Handshake();
  h.push(Buffer.from([5, 1, 0]));
  h.push(Buffer.from([5, 1, 0, 3, 255]));
  const p = h.push(Buffer.alloc(2000, 0x61));
  assert.equal(p.outcome?.kind, 'request', 'a full 255-byte name parses (the policy judges it)');
});

test('replies encode the bound address', () => {
  assert.deepEqual([...socks5Reply(2)], [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(
    [...socks5Reply(0, { family: 4, v4: 0x7f000001 }, 1080)],
    [5, 0, 0, 1, 127, 0, 0, 1, 4, 56],
  );
  assert.equal(socks5Reply(0, { family: 6, w: [0, 0, 0, 1] }, 1).length, 22);
});
