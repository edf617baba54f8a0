import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckWindow, type Cursor, epochOf, messageId, resumePoint } from './audit-cursor.ts';
import { type Netmap, NetmapState, parseBusMessage } from './netmap-state.ts';
import { renewAt } from './renewal.ts';

const h = (seq: number, tag = 'a') => ({ seq, hash: `${tag}${String(seq).padStart(63, '0')}` });
const cursorAt = (seq: number, tag = 'a', epoch = 'E'): Cursor => ({
  v: 1,
  epoch,
  seq,
  hash: h(seq, tag).hash,
});

test('no cursor: publish everything on disk, the epoch named after the oldest record', () => {
  assert.deepEqual(resumePoint(null, h(1), h(9), null), {
    epoch: epochOf(h(1)),
    afterSeq: 0,
    note: 'no-cursor',
  });
  assert.equal(resumePoint(null, null, null, null), null, 'nothing to do before the first record');
});

test('same chain: continue right after the acknowledged record', () => {
  assert.deepEqual(resumePoint(cursorAt(5), h(1), h(9), h(5)), { epoch: 'E', afterSeq: 5 });
  assert.deepEqual(resumePoint(cursorAt(9), h(1), h(9), h(9)), { epoch: 'E', afterSeq: 9 });
  assert.deepEqual(
    resumePoint(cursorAt(4), null, null, null),
    { epoch: 'E', afterSeq: 4 },
    'files not there yet',
  );
});

test('a new chain (restarted at 1 or different hash) gets a new epoch and is sent from its start', () => {
  const fresh = resumePoint(cursorAt(50), h(1, 'b'), h(3, 'b'), null);
  assert.deepEqual(fresh, { epoch: epochOf(h(1, 'b')), afterSeq: 0, note: 'new-chain' });
  assert.notEqual(fresh?.epoch, 'E');
  assert.equal(resumePoint(cursorAt(2), h(1, 'b'), h(3, 'b'), h(2, 'b'))?.note, 'new-chain');
});

test('acknowledged record rotated away: continue after it, or report records lost to rotation', () => {
  assert.deepEqual(resumePoint(cursorAt(10), h(11), h(20), null), { epoch: 'E', afterSeq: 10 });
  assert.deepEqual(resumePoint(cursorAt(10), h(15), h(20), null), {
    epoch: 'E',
    afterSeq: 14,
    note: 'records-lost-to-rotation',
  });
});

test('message ids name sandbox, epoch and sequence', () => {
  assert.equal(messageId('ns', 'a', 'E', 7), 'ns/a/E/7');
  assert.notEqual(messageId('ns', 'a', 'E', 7), messageId('ns', 'b', 'E', 7));
  assert.notEqual(messageId('ns', 'a', 'E', 7), messageId('ns', 'a', 'F', 7));
});

test('the ack window only moves over an unbroken run of acknowledgements', () => {
  const w = new AckWindow(10);
  assert.equal(w.ack(12, 'h12'), false);
  assert.equal(w.seq, 10);
  assert.equal(w.ack(11, 'h11'), true);
  assert.equal(w.seq, 12);
  assert.equal(w.hash, 'h12');
  assert.equal(w.ack(12, 'again'), false, 'old acks are ignored');
  w.ack(14, 'h14');
  w.reset();
  w.ack(13, 'h13');
  assert.equal(w.seq, 13, 'an ack dropped by reset must come again');
});

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const map = (version: number, peers: Netmap['peers']): Netmap => ({
  type: 'netmap',
  version,
  self: { namespace: 'ns', name: 'a', overlayIP: '10.42.0.1' },
  networkCIDR: '10.42.0.0/16',
  peers,
});
const peer = (n: number, endpoint?: string) => ({
  name: `p${n}`,
  publicKey: key(n),
  overlayIP: `10.42.0.${n}`,
  endpoint,
  allowedIPs: [`10.42.0.${n}/32`],
});

test('netmap state: add, update, remove, and stale maps ignored', () => {
  const s = new NetmapState();
  const c1 = s.apply(map(1, [peer(2), peer(3, '10.0.0.3:51820')]));
  assert.deepEqual(
    c1?.add.map((p) => p.name),
    ['p2', 'p3'],
  );
  const c2 = s.apply(map(2, [peer(2, '10.0.0.2:51820')]));
  assert.deepEqual(
    c2?.update.map((p) => p.name),
    ['p2'],
  );
  assert.deepEqual(
    c2?.remove.map((p) => p.name),
    ['p3'],
  );
  assert.equal(s.apply(map(1, [peer(9)])), null, 'older version ignored');
  assert.equal(s.apply(map(3, [peer(2, '10.0.0.2:51820')])), null, 'same membership: nothing to do');
  assert.equal(s.version, 3);
  const r = s.apply({ type: 'revoked', version: 4, reason: 'sandbox deleted' });
  assert.deepEqual(
    r?.remove.map((p) => p.name),
    ['p2'],
  );
  assert.equal(s.revoked, 'sandbox deleted');
});

test('a revocation for an earlier sandbox of the same name (other UID) is ignored', () => {
  const s = new NetmapState('uid-new');
  s.apply(map(1, [peer(2)]));
  assert.equal(s.apply({ type: 'revoked', version: 2, reason: 'sandbox deleted', uid: 'uid-old' }), null);
  assert.equal(s.revoked, null);
  assert.ok(s.apply({ type: 'revoked', version: 3, reason: 'sandbox deleted', uid: 'uid-new' }));
  assert.equal(s.revoked, 'sandbox deleted');
});

test('bus messages are validated before anything is applied', () => {
  assert.equal(parseBusMessage(map(1, [peer(2)])).type, 'netmap');
  const bad: unknown[] = [
    null,
    { type: 'netmap', peers: [] },
    { type: 'other', version: 1 },
    map(1, [{ ...peer(2), publicKey: 'nope' }]),
    map(1, [{ ...peer(2), endpoint: 'host:1' }]),
    map(1, [{ ...peer(2), allowedIPs: ['10.0.0.0'] }]),
  ];
  for (const b of bad) assert.throws(() => parseBusMessage(b), { name: 'NetmapError' }, JSON.stringify(b));
});

test('a credential is renewed with a third of its life left, at most a week before expiry', () => {
  const day = 86_400_000;
  assert.equal(renewAt(0, 30 * day), 23 * day);
  assert.equal(renewAt(0, 30_000), 20_000);
  assert.equal(renewAt(1000, 1000), 1000, 'an expired credential is renewed at once');
});
