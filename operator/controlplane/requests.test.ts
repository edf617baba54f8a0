import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCursor, inRange, parseAuditQuery } from './audit-query.ts';
import { parseEnrollRequest } from './enroll-request.ts';
import { ApiError } from './errors.ts';
import { buildNetmap, type Identity, sameMembership } from './netmap.ts';

const key = Buffer.alloc(32, 7).toString('base64');
const token = `lt-${'a'.repeat(32)}`;
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return `${err.status} ${err.code}`;
  }
};

test('a valid enroll request parses; optional fields are checked', () => {
  const r = parseEnrollRequest({ name: 'a.b', namespace: 'ns', token, publicKey: key, wgPort: 51820 });
  assert.deepEqual(r, { name: 'a.b', namespace: 'ns', token, publicKey: key, wgPort: 51820 });
  assert.equal(
    codeOf(() =>
      parseEnrollRequest({
        name: 'a',
        namespace: 'ns',
        token,
        publicKey: key,
        busPublicKey: `U${'A'.repeat(55)}`,
      }),
    ),
    'ok',
  );
});

test('each bad enroll field is named in a 400', () => {
  const ok = { name: 'a', namespace: 'ns', token, publicKey: key };
  const cases: [unknown, string][] = [
    [null, '400 invalid_body'],
    [[], '400 invalid_body'],
    [{ ...ok, extra: 1 }, '400 unknown_field'],
    [{ ...ok, name: 'A' }, '400 invalid_name'],
    [{ ...ok, name: 'x'.repeat(254) }, '400 invalid_name'],
    [{ ...ok, namespace: 'a.b' }, '400 invalid_namespace'],
    [{ ...ok, token: undefined }, '400 missing_token'],
    [{ ...ok, token: 'lt-123' }, '400 malformed_token'],
    [{ ...ok, token: 5 }, '400 malformed_token'],
    [{ ...ok, publicKey: 'short' }, '400 invalid_public_key'],
    [{ ...ok, publicKey: Buffer.alloc(33).toString('base64') }, '400 invalid_public_key'],
    [{ ...ok, busPublicKey: 'NOPE' }, '400 invalid_bus_public_key'],
    [{ ...ok, wgPort: 0 }, '400 invalid_wg_port'],
    [{ ...ok, wgPort: 1.5 }, '400 invalid_wg_port'],
  ];
  for (const [body, want] of cases)
    assert.equal(
      codeOf(() => parseEnrollRequest(body)),
      want,
      JSON.stringify(body),
    );
});

test('a malformed token is never echoed in the error', () => {
  const secretish = 'lt-THIS-IS-SECRET';
  try {
    parseEnrollRequest({ name: 'a', namespace: 'ns', token: secretish, publicKey: key });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(!(err as Error).message.includes('SECRET'));
  }
});

const NOW = Date.parse('2026-06-01T00:00:00Z');
const q = (s: string) => parseAuditQuery(new URLSearchParams(s), NOW);

test('audit query defaults and bounds', () => {
  assert.deepEqual(q('agentName=bot'), {
    agentName: 'bot',
    namespace: undefined,
    from: 0,
    to: NOW,
    limit: 100,
    openEnded: true,
  });
  assert.equal(q('agentName=bot&limit=1000&from=2026-01-01T00:00:00Z').limit, 1000);
  assert.equal(
    codeOf(() => q('')),
    '400 missing_agent_name',
  );
  assert.equal(
    codeOf(() => q('agentName=Bot')),
    '400 invalid_agent_name',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&limit=0')),
    '400 invalid_limit',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&limit=1001')),
    '400 invalid_limit',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&limit=1e3')),
    '400 invalid_limit',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&from=yesterday')),
    '400 invalid_from',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z')),
    '400 invalid_range',
  );
});

test('a cursor resumes the same query and is refused for any other', () => {
  const first = q('agentName=bot&from=2026-01-01T00:00:00Z');
  const c = encodeCursor(first, 42);
  assert.equal(q(`agentName=bot&from=2026-01-01T00:00:00Z&cursor=${c}`).startSeq, 42);
  assert.equal(
    codeOf(() => q(`agentName=other&from=2026-01-01T00:00:00Z&cursor=${c}`)),
    '400 cursor_mismatch',
  );
  assert.equal(
    codeOf(() => q(`agentName=bot&cursor=${c}`)),
    '400 cursor_mismatch',
  );
  assert.equal(
    codeOf(() => q('agentName=bot&cursor=garbage')),
    '400 invalid_cursor',
  );
  const open = encodeCursor(q('agentName=bot'), 7);
  const later = parseAuditQuery(new URLSearchParams(`agentName=bot&cursor=${open}`), NOW + 60_000);
  assert.equal(later.startSeq, 7, 'an open range pages on as time passes');
  assert.equal(
    codeOf(() => q(`agentName=bot&to=2026-06-01T00:00:00Z&cursor=${open}`)),
    '400 cursor_mismatch',
  );
  const zero = Buffer.from(JSON.stringify({ v: 1, s: 0, q: 'x' })).toString('base64url');
  assert.equal(
    codeOf(() => q(`agentName=bot&cursor=${zero}`)),
    '400 invalid_cursor',
  );
});

test('inRange uses the record time, inclusive at both ends', () => {
  const r = q('agentName=bot&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z');
  assert.ok(inRange(r, '2026-01-01T00:00:00.000Z'));
  assert.ok(inRange(r, '2026-01-02T00:00:00Z'));
  assert.ok(!inRange(r, '2026-01-02T00:00:00.001Z'));
  assert.ok(!inRange(r, undefined));
});

const id = (name: string, ns = 'ns', ip = '10.42.0.1'): Identity => ({
  namespace: ns,
  name,
  uid: `uid-${name}`,
  publicKey: `pk-${name}`,
  overlayIP: ip,
  wgPort: 51820,
});

test('a netmap lists same-namespace peers with endpoints, plus static peers, never itself', () => {
  const a = id('a', 'ns', '10.42.0.1');
  const all = [a, id('b', 'ns', '10.42.0.2'), id('c', 'other', '10.42.0.3'), id('d', 'ns', '10.42.0.4')];
  const pods = new Map([['ns/b', '10.0.0.2']]);
  const m = buildNetmap(
    a,
    all,
    pods,
    [{ name: 'gw', publicKey: 'pk-gw', endpoint: '192.0.2.1:51820', allowedIPs: ['10.99.0.0/16'] }],
    '10.42.0.0/16',
    5,
  );
  assert.deepEqual(
    m.peers.map((p) => p.name),
    ['b', 'd', 'gw'],
  );
  assert.equal(m.peers[0].endpoint, '10.0.0.2:51820');
  assert.deepEqual(m.peers[0].allowedIPs, ['10.42.0.2/32']);
  assert.equal(m.peers[1].endpoint, undefined, 'no pod IP yet, no endpoint');
  assert.deepEqual(m.self, { namespace: 'ns', name: 'a', overlayIP: '10.42.0.1' });
  const again = buildNetmap(
    a,
    all,
    pods,
    [{ name: 'gw', publicKey: 'pk-gw', endpoint: '192.0.2.1:51820', allowedIPs: ['10.99.0.0/16'] }],
    '10.42.0.0/16',
    9,
  );
  assert.ok(sameMembership(m, again), 'the version alone is not a change');
  assert.ok(!sameMembership(m, buildNetmap(a, all.slice(0, 2), pods, [], '10.42.0.0/16', 9)));
});

test('static peers from the operator config are validated entry by entry', async () => {
  const { parseStaticPeers } = await import('./static-peers.ts');
  const ok = parseStaticPeers(
    JSON.stringify([
      { name: 'office-gw', publicKey: key, endpoint: '192.0.2.1:51820', allowedIPs: ['10.99.0.0/16'] },
    ]),
  );
  assert.deepEqual(ok, [
    { name: 'office-gw', publicKey: key, endpoint: '192.0.2.1:51820', allowedIPs: ['10.99.0.0/16'] },
  ]);
  assert.deepEqual(parseStaticPeers('[]'), []);
  for (const [bad, msg] of [
    ['{', /not valid JSON/],
    ['{}', /expected a JSON list/],
    [JSON.stringify([{ name: 'Bad Name', publicKey: key, allowedIPs: ['10.0.0.0/8'] }]), /#1: name/],
    [JSON.stringify([{ name: 'gw', publicKey: 'x', allowedIPs: ['10.0.0.0/8'] }]), /publicKey/],
    [
      JSON.stringify([{ name: 'gw', publicKey: key, endpoint: 'gw.example:1', allowedIPs: ['10.0.0.0/8'] }]),
      /endpoint/,
    ],
    [JSON.stringify([{ name: 'gw', publicKey: key, allowedIPs: [] }]), /allowedIPs/],
  ] as const) {
    assert.throws(() => parseStaticPeers(bad), msg);
  }
});
