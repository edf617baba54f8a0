import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from './kube.ts';
import { diffRelist, keyOf, splitKey } from './store.ts';

const obj = (name: string, rv: string, namespace = 'ns'): KubeObject => ({
  metadata: { name, namespace, resourceVersion: rv },
});

test('keys are namespace/name and split back', () => {
  assert.equal(keyOf(obj('a', '1')), 'ns/a');
  assert.deepEqual(splitKey('ns/a'), { namespace: 'ns', name: 'a' });
  assert.deepEqual(splitKey('cluster-scoped'), { namespace: undefined, name: 'cluster-scoped' });
});

test('a relist reports adds, real updates and deletions missed while the watch was down', () => {
  const cache = new Map([
    ['ns/same', obj('same', '5')],
    ['ns/changed', obj('changed', '6')],
    ['ns/gone', obj('gone', '7')],
  ]);
  const d = diffRelist(cache, [obj('same', '5'), obj('changed', '9'), obj('new', '10')]);
  assert.deepEqual(d.added.map(keyOf), ['ns/new']);
  assert.deepEqual(
    d.updated.map((u) => [keyOf(u.cur), u.old.metadata.resourceVersion, u.cur.metadata.resourceVersion]),
    [['ns/changed', '6', '9']],
  );
  assert.deepEqual(d.deleted.map(keyOf), ['ns/gone']);
});

test('an empty list deletes everything; an empty cache adds everything', () => {
  assert.equal(diffRelist(new Map([['ns/a', obj('a', '1')]]), []).deleted.length, 1);
  assert.equal(diffRelist(new Map(), [obj('a', '1'), obj('b', '1')]).added.length, 2);
});
