import assert from 'node:assert/strict';
import { test } from 'node:test';

test('the tests run on the pinned Node 24 LTS', () => {
  assert.equal(process.versions.node.split('.')[0], '24');
});
