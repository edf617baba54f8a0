// Schema defaults applied the way the apiserver applies them (a missing field with a default
// gets it; then its children are defaulted), read from the one schema source. The apiserver
// already defaults stored objects; this makes the reconciler correct for objects it builds in
// tests and for fields nested under optional parents. Pure.
import { openAPIV3Schema, type Schema } from '../../../crds/schema.ts';
import type { LatticeSandbox } from './types.gen.ts';

export function applyDefaults(schema: Schema, value: unknown): unknown {
  let v = value;
  if (v === undefined && schema.default !== undefined) v = structuredClone(schema.default);
  if (v === undefined || v === null) return v;
  if (schema.type === 'object' && schema.properties && typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const [k, s] of Object.entries(schema.properties)) {
      const d = applyDefaults(s, out[k]);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  if (schema.type === 'array' && schema.items && Array.isArray(v))
    return v.map((x) => applyDefaults(schema.items!, x));
  return v;
}

export function withDefaults(s: LatticeSandbox): LatticeSandbox {
  return {
    ...s,
    spec: applyDefaults(openAPIV3Schema.properties!.spec, s.spec ?? {}) as LatticeSandbox['spec'],
  };
}
