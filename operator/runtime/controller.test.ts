import assert from 'node:assert/strict';
import { test } from 'node:test';
import { needsReconcile, normalize } from './controller.ts';
import { ApiError, classify, PermanentError, TemporaryError } from './errors.ts';
import { Semaphore } from './semaphore.ts';

const o = (m: Record<string, unknown>) => ({ metadata: { name: 'a', ...m } });

test('status-only updates (same generation) do not trigger a reconcile; spec, deletion and finalizers do', () => {
  assert.equal(
    needsReconcile(o({ generation: 1, resourceVersion: '1' }), o({ generation: 1, resourceVersion: '2' })),
    false,
  );
  assert.equal(needsReconcile(o({ generation: 1 }), o({ generation: 2 })), true);
  assert.equal(needsReconcile(o({ generation: 1 }), o({ generation: 1, deletionTimestamp: 'x' })), true);
  assert.equal(needsReconcile(o({ generation: 1 }), o({ generation: 1, finalizers: ['f'] })), true);
});

test('status comparison ignores undefined fields', () => {
  assert.deepEqual(normalize({ a: 1, b: undefined }), { a: 1 });
});

test('errors are classified: permanent, conflict, temporary (the default, also for bugs)', () => {
  assert.equal(classify(new PermanentError('x')), 'permanent');
  assert.equal(classify(new TemporaryError('x', 10)), 'temporary');
  assert.equal(classify(new ApiError('PATCH', '/p', 409, 'Conflict', 'x')), 'conflict');
  assert.equal(classify(new ApiError('PATCH', '/p', 422, 'Invalid', 'x')), 'permanent');
  assert.equal(classify(new ApiError('GET', '/p', 503, 'ServiceUnavailable', 'x')), 'temporary');
  assert.equal(classify(new TypeError('bug')), 'temporary');
});

test('the semaphore never runs more than its limit at once', async () => {
  const s = new Semaphore(2);
  let running = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      s.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.equal(s.active, 0);
});

test('write accounting names the resource a path addresses', async () => {
  const { resourceOf } = await import('./metrics.ts');
  assert.equal(resourceOf('/api/v1/namespaces/ns/pods/x/status'), 'pods');
  assert.equal(resourceOf('/apis/coordination.k8s.io/v1/namespaces/lattice-system/leases/l'), 'leases');
  assert.equal(resourceOf('/apis/lattice.io/v1alpha1/namespaces/ns/latticesandboxes'), 'latticesandboxes');
  assert.equal(resourceOf('/api/v1/namespaces/x'), 'namespaces');
});
