import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CRD_PATH, renderCRD, renderTypes, TYPES_PATH } from './render.ts';
import { crd } from './schema.ts';

test('the checked-in CRD YAML is exactly what crds/schema.ts renders (run node crds/generate.ts)', () => {
  assert.equal(readFileSync(CRD_PATH, 'utf8'), renderCRD());
});

test('the checked-in TypeScript types are exactly what crds/schema.ts renders (run node crds/generate.ts)', () => {
  assert.equal(readFileSync(TYPES_PATH, 'utf8'), renderTypes());
});

test('the YAML parses back into the same CRD object', () => {
  assert.deepEqual(parse(renderCRD()), crd());
});

test('types name the objects the operator uses', () => {
  const types = renderTypes();
  for (const name of [
    'LatticeSandbox',
    'LatticeSandboxSpec',
    'LatticeSandboxStatus',
    'EgressRule',
    'Forward',
    'Condition',
  ]) {
    assert.match(types, new RegExp(`export type ${name} = `));
  }
  assert.match(types, /mode\?: 'Sidecar' \| 'GVisor';/);
});
