import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './errors.ts';
import {
  generateToken,
  hashToken,
  isWellFormedToken,
  parseDuration,
  redactToken,
  tokenMatches,
} from './token.ts';
import { ANNOTATION, checkToken, consumedSecret, newTokenSecret } from './token-secret.ts';

test('a generated token is lt- plus 32 lowercase hex and differs every time', () => {
  const a = generateToken();
  const b = generateToken();
  assert.match(a, /^lt-[0-9a-f]{32}$/);
  assert.notEqual(a, b);
});

test('well-formedness rejects wrong prefix, length, case and type', () => {
  assert.ok(isWellFormedToken(`lt-${'0'.repeat(32)}`));
  for (const bad of [
    `lt-${'0'.repeat(31)}`,
    `lt-${'0'.repeat(33)}`,
    `LT-${'0'.repeat(32)}`,
    `lt-${'A'.repeat(32)}`,
    `xx-${'0'.repeat(32)}`,
    42,
    null,
    undefined,
  ]) {
    assert.equal(isWellFormedToken(bad), false, String(bad));
  }
});

test('a token matches only its own hash; a malformed stored hash never matches', () => {
  const t = generateToken();
  const h = hashToken(t);
  assert.match(h, /^sha256:[0-9a-f]{64}$/);
  assert.ok(tokenMatches(t, h));
  assert.equal(tokenMatches(generateToken(), h), false);
  assert.equal(tokenMatches(t, h.toUpperCase()), false);
  assert.equal(tokenMatches(t, ''), false);
});

test('redaction never contains the token', () => {
  const t = generateToken();
  const r = redactToken(t);
  assert.ok(!r.includes(t.slice(3)));
  assert.equal(redactToken(undefined), '<none>');
});

test('durations parse like Kubernetes ones', () => {
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('90s'), 90_000);
  for (const bad of ['', 'h', '1x', '-1h', '0s', 5, '1h '])
    assert.equal(parseDuration(bad), undefined, String(bad));
});

const H = 3_600_000;
const sandbox = { name: 'agent-1', namespace: 'team', uid: 'uid-1' };
const now = new Date('2026-01-01T00:00:00Z');
const code = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError);
    return `${err.status} ${err.code}`;
  }
  return 'ok';
};

test('checkToken accepts the issued token until it expires', () => {
  const { token, secret } = newTokenSecret(sandbox, 3_600_000, now);
  assert.equal(secret.metadata?.name, 'agent-1-enrollment');
  assert.equal(Buffer.from(secret.data?.token ?? '', 'base64').toString(), token);
  assert.ok(!JSON.stringify(secret.metadata).includes(token), 'metadata never holds the token');
  assert.equal(
    code(() => checkToken(secret, sandbox, token, now, H)),
    'ok',
  );
  assert.equal(
    code(() => checkToken(secret, sandbox, token, new Date(now.getTime() + 3_599_999), H)),
    'ok',
  );
  assert.equal(
    code(() => checkToken(secret, sandbox, token, new Date(now.getTime() + 3_600_000), H)),
    '410 token_expired',
  );
});

test('checkToken classifies misuse: wrong token, wrong sandbox UID, reuse, nothing issued', () => {
  const { token, secret } = newTokenSecret(sandbox, 3_600_000, now);
  assert.equal(
    code(() => checkToken(secret, sandbox, generateToken(), now, H)),
    '401 invalid_token',
  );
  assert.equal(
    code(() => checkToken(secret, { ...sandbox, uid: 'other' }, token, now, H)),
    '401 invalid_token',
  );
  assert.equal(
    code(() => checkToken(undefined, sandbox, token, now, H)),
    '404 no_token_issued',
  );
  const used = consumedSecret(secret, '10.42.0.7', now, H);
  assert.equal(used.data?.token, undefined);
  assert.equal(used.metadata?.annotations?.[ANNOTATION.overlayIP], '10.42.0.7');
  assert.equal(
    code(() => checkToken(used, sandbox, token, now, H)),
    '409 token_used',
  );
});

test('a Secret with only data.token and an owner reference (the reconciler shape) is understood', () => {
  const token = generateToken();
  const secret = {
    metadata: {
      name: 'agent-1-enrollment',
      namespace: 'team',
      resourceVersion: '7',
      creationTimestamp: now.toISOString(),
      ownerReferences: [{ kind: 'LatticeSandbox', uid: 'uid-1', name: 'agent-1' }],
    },
    data: { token: Buffer.from(token).toString('base64') },
  };
  assert.equal(
    code(() => checkToken(secret, sandbox, token, now, H)),
    'ok',
  );
  assert.equal(
    code(() => checkToken(secret, sandbox, token, new Date(now.getTime() + H), H)),
    '410 token_expired',
  );
  assert.equal(
    code(() => checkToken(secret, { ...sandbox, uid: 'uid-2' }, token, now, H)),
    '401 invalid_token',
  );
  const used = consumedSecret(secret, '10.42.0.9', now, H);
  assert.equal(used.data?.token, undefined);
  assert.equal(used.metadata?.annotations?.[ANNOTATION.tokenHash], hashToken(token));
  assert.equal(
    code(() => checkToken(used, sandbox, token, now, H)),
    '409 token_used',
  );
  assert.equal(
    code(() => checkToken(used, sandbox, generateToken(), now, H)),
    '401 invalid_token',
  );
});
