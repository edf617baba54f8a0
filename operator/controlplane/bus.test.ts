import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errors } from '@nats-io/transport-node';
import { isBusUnavailable } from './bus.ts';

test('bus outages are classified as unavailable (503), bugs are not', () => {
  assert.ok(isBusUnavailable(new errors.ClosedConnectionError()));
  assert.ok(isBusUnavailable(new errors.TimeoutError()));
  assert.ok(isBusUnavailable(new errors.NoRespondersError('$JS.API.CONSUMER.CREATE.AUDIT')));
  assert.ok(isBusUnavailable(new Error('wrapped', { cause: new errors.TimeoutError() })), 'through a cause');
  assert.equal(isBusUnavailable(new TypeError('x is undefined')), false);
  assert.equal(isBusUnavailable('closed'), false);
  assert.equal(isBusUnavailable(undefined), false);
});
