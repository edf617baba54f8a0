import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InMemoryIdentityRevoker } from './identity.ts';

test('the in-memory revoker records each revocation and is idempotent', async () => {
  const r = new InMemoryIdentityRevoker();
  const id = { namespace: 'ns', name: 'a', uid: 'u1', agentName: 'a' };
  assert.equal(r.isRevoked('u1'), false);
  await r.revoke(id);
  await r.revoke(id);
  assert.equal(r.isRevoked('u1'), true);
  assert.equal(r.calls('u1'), 2);
  assert.equal(r.calls('other'), 0);
});
