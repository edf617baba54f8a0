// Structural properties of the schema the apiserver depends on. The CEL rules themselves are
// exercised against a real kube-apiserver in operator/sandbox/crd.e2e.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crd, DNS_LABEL, openAPIV3Schema, printerColumns, type Schema, SHORT_NAMES } from './schema.ts';

function walk(s: Schema, path: string, visit: (s: Schema, path: string) => void) {
  visit(s, path);
  for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`, visit);
  if (s.items) walk(s.items, `${path}[]`, visit);
}

const find = (path: string): Schema => {
  let found: Schema | undefined;
  walk(openAPIV3Schema, '', (s, p) => {
    if (p === path) found = s;
  });
  assert.ok(found, `no schema at ${path}`);
  return found;
};

test('every string is bounded by maxLength or an enum, every list by maxItems (CEL cost budget)', () => {
  const unbounded: string[] = [];
  walk(openAPIV3Schema, '', (s, p) => {
    if (s.type === 'string' && s.maxLength === undefined && !s.enum) unbounded.push(p);
    if (s.type === 'array' && s.maxItems === undefined) unbounded.push(p);
  });
  assert.deepEqual(unbounded, []);
});

test('every field has a description except metadata', () => {
  const missing: string[] = [];
  walk(openAPIV3Schema, '', (s, p) => {
    if (!s.description && p !== '.metadata') missing.push(p);
  });
  assert.deepEqual(missing, []);
});

test('every CEL rule has a message written for people', () => {
  walk(openAPIV3Schema, '', (s, p) => {
    for (const v of s['x-kubernetes-validations'] ?? []) {
      assert.ok(v.message.length > 15 && !v.message.includes('self'), `${p}: ${v.message}`);
    }
  });
});

const matches = (path: string, value: string) => new RegExp(find(path).pattern!).test(value);

test('agentName pattern is a DNS-1123 label', () => {
  const re = new RegExp(DNS_LABEL);
  for (const ok of ['agent-001', 'a', 'x9']) assert.ok(re.test(ok), ok);
  for (const bad of ['Agent', '-a', 'a-', 'a_b', 'a.b', '']) assert.ok(!re.test(bad), bad);
  assert.ok(find('.spec.agentName')['x-kubernetes-validations']!.some((v) => v.rule.includes(DNS_LABEL)));
  assert.equal(find('.spec.agentName').maxLength, 63);
});

test('host pattern takes names and *. wildcards, nothing else', () => {
  const p = '.spec.egress.rules[].host';
  for (const ok of ['pypi.org', '*.pypi.org', 'localhost', 'a-b.c-d.example']) assert.ok(matches(p, ok), ok);
  for (const bad of ['*pypi.org', 'pypi.*', 'PyPI.org', 'a..b', '*.', 'http://x', 'x:443']) {
    assert.ok(!matches(p, bad), bad);
  }
});

test('port strings are a port or a LOW-HIGH range by pattern (range order and 65535 are CEL)', () => {
  const p = '.spec.egress.rules[].ports[]';
  for (const ok of ['443', '1', '8000-9000', '65535']) assert.ok(matches(p, ok), ok);
  for (const bad of ['0', '-1', '443-', 'a', '80,443', '0443']) assert.ok(!matches(p, bad), bad);
  const rules = find(p)['x-kubernetes-validations']!.map((v) => v.rule);
  assert.ok(rules.some((r) => r.includes('65535')));
  assert.ok(rules.some((r) => r.includes('<=')));
});

test('forward targets are HOST:PORT', () => {
  const p = '.spec.forwards[].target';
  for (const ok of ['127.0.0.1:8080', 'localhost:80', '[::1]:8080']) assert.ok(matches(p, ok), ok);
  for (const bad of ['127.0.0.1', ':80', 'host:', 'host:0', '::1:80', 'a b:1'])
    assert.ok(!matches(p, bad), bad);
});

test('forward port is an integer between 1 and 65535', () => {
  const s = find('.spec.forwards[].port');
  assert.equal(s.minimum, 1);
  assert.equal(s.maximum, 65535);
});

test('agentName and mode carry self == oldSelf transition rules; cross-field rules live on spec', () => {
  assert.ok(find('.spec.agentName')['x-kubernetes-validations']!.some((v) => v.rule === 'self == oldSelf'));
  assert.ok(find('.spec.mode')['x-kubernetes-validations']!.some((v) => v.rule === 'self == oldSelf'));
  const spec = find('.spec')['x-kubernetes-validations']!.map((v) => v.message);
  assert.ok(spec.some((m) => m.includes('needs a gvisor block')));
  assert.ok(spec.some((m) => m.includes('only allowed with mode GVisor')));
});

test('defaults: mode Sidecar, deny by default, datapath 64Mi/100m request and 128Mi/200m limit', () => {
  assert.equal(find('.spec.mode').default, 'Sidecar');
  assert.equal(find('.spec.egress.defaultAction').default, 'Deny');
  assert.equal(find('.spec.proxy.port').default, 1080);
  assert.deepEqual(find('.spec.datapath.resources').default, {
    requests: { cpu: '100m', memory: '64Mi' },
    limits: { cpu: '200m', memory: '128Mi' },
  });
});

test('names: plural, short names for kubectl get sandboxes/sandbox, category lattice, status subresource', () => {
  const c = crd() as { spec: { names: Record<string, unknown>; versions: { subresources: unknown }[] } };
  assert.equal(c.spec.names.plural, 'latticesandboxes');
  assert.ok(SHORT_NAMES.includes('sandboxes') && SHORT_NAMES.includes('sandbox'));
  assert.deepEqual(c.spec.names.categories, ['lattice']);
  assert.deepEqual(c.spec.versions[0].subresources, { status: {} });
  assert.deepEqual(
    printerColumns.map((p) => p.name),
    ['Agent', 'Mode', 'Ready', 'Phase', 'Overlay IP', 'Peers', 'Denied', 'Age'],
  );
});
