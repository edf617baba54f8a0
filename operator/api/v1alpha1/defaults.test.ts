import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDefaults, withDefaults } from './defaults.ts';

test('defaults come from the schema: absent objects are created, nested fields and list items filled', () => {
  const s = withDefaults({
    metadata: { name: 'a' },
    spec: {
      agent: { image: 'x', ports: [{ containerPort: 80 }] },
      egress: { rules: [{ cidr: '10.0.0.0/8' }] },
    },
  });
  assert.equal(s.spec.mode, 'Sidecar');
  assert.equal(s.spec.proxy!.port, 1080);
  assert.equal(s.spec.egress!.defaultAction, 'Deny');
  assert.equal(s.spec.egress!.rules![0].action, 'Allow');
  assert.equal(s.spec.agent!.ports![0].protocol, 'TCP');
  assert.equal(s.spec.enrollment!.tokenTTL, '1h');
  assert.equal(s.spec.datapath!.healthPort, 15021);
  assert.equal(s.spec.enforcement, undefined, 'no default: it depends on the mode');
});

test('values that are set are kept, and defaults are copies (no shared objects)', () => {
  const a = withDefaults({ metadata: { name: 'a' }, spec: { mode: 'GVisor', proxy: { port: 2000 } } });
  assert.equal(a.spec.mode, 'GVisor');
  assert.equal(a.spec.proxy!.port, 2000);
  const b = withDefaults({ metadata: { name: 'b' }, spec: {} });
  const c = withDefaults({ metadata: { name: 'c' }, spec: {} });
  b.spec.datapath!.resources!.limits!.cpu = '9';
  assert.equal(c.spec.datapath!.resources!.limits!.cpu, '200m');
});

test('applyDefaults leaves non-objects alone', () => {
  assert.equal(applyDefaults({ type: 'object', properties: {} }, null), null);
  assert.equal(applyDefaults({ type: 'string', default: 'x' }, 'y'), 'y');
  assert.equal(applyDefaults({ type: 'string', default: 'x' }, undefined), 'x');
});
