import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, expand, type Lookups, resolveEnv } from './env.ts';

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'x' }, annotations: { 'a/b': 'v' } },
  spec: { containers: [], nodeName: 'n1' },
};
const lookups: Lookups = {
  secret: async (ns, name) => (ns === 'ns' && name === 's' ? { token: 't0k' } : undefined),
  configMap: async (_ns, name) => (name === 'cm' ? { k: 'cv' } : undefined),
};

test('$(VAR) expands earlier variables, $$ escapes, unknown references stay', () => {
  assert.equal(expand('--token=$(T) $(NOPE) $$(T)', { T: 'x' }), '--token=x $(NOPE) $(T)');
});

test('env from values, Secrets, ConfigMaps and the Pod fields, in order', async () => {
  const env = await resolveEnv(
    pod,
    {
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      env: [
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } },
        { name: 'ARG', value: 'tok=$(TOKEN)' },
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'ANN', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['a/b']" } } },
        { name: 'OPT', valueFrom: { secretKeyRef: { name: 'missing', key: 'k', optional: true } } },
      ],
    },
    '10.244.1.2',
    '10.244.1.1',
    lookups,
  );
  assert.deepEqual(env, { CM_k: 'cv', TOKEN: 't0k', ARG: 'tok=t0k', NAME: 'p', IP: '10.244.1.2', ANN: 'v' });
});

test('a missing required Secret key is a container config error naming it', async () => {
  await assert.rejects(
    resolveEnv(
      pod,
      { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'nope' } } }] },
      '',
      '',
      lookups,
    ),
    (err: unknown) =>
      err instanceof ContainerConfigError && /key "nope" not found in secret "s"/.test(err.message),
  );
});
