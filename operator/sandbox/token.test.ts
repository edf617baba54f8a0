import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  newTokenSecret,
  parseDuration,
  secretName,
  TOKEN_ANNOTATION,
  TOKEN_KEY,
  TOKEN_PATTERN,
} from './token.ts';

test('each issued Secret carries a fresh lt- + 32 hex token under key token, bound to the sandbox UID', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const { token, secret } = newTokenSecret(
      { name: 'a', namespace: 'ns', uid: 'u1' },
      3_600_000,
      new Date(0),
    );
    assert.match(token, TOKEN_PATTERN);
    assert.equal(Buffer.from(secret.data![TOKEN_KEY], 'base64').toString(), token);
    assert.equal(secret.metadata!.annotations![TOKEN_ANNOTATION.sandboxUID], 'u1');
    assert.equal(secret.metadata!.name, 'a-enrollment');
    seen.add(token);
  }
  assert.equal(seen.size, 200);
  assert.equal(secretName('agent-1'), 'agent-1-enrollment');
});

test('durations: h, m, s and combinations; garbage is rejected', () => {
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('45s'), 45_000);
  assert.throws(() => parseDuration('1d'));
  assert.throws(() => parseDuration(''));
  assert.throws(() => parseDuration('1h garbage'));
});
