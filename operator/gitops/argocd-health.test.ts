// Runs config/argocd/health.lua in a real Lua interpreter (Argo CD embeds gopher-lua, Lua 5.1;
// the script uses only what 5.1 and 5.4 share) against sandboxes in each state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = readFileSync(join(import.meta.dirname, '../../config/argocd/health.lua'), 'utf8');

/** A JSON value as a Lua table constructor (what Argo CD hands the script as `obj`). */
function lua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(lua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${JSON.stringify(k)}] = ${lua(x)}`)
    .join(', ')}}`;
}

function health(obj: unknown): { status: string; message: string } {
  const program = `obj = ${lua(obj)}\nlocal function check()\n${SCRIPT}\nend\nlocal hs = check()\nio.write(hs.status .. "\\n" .. (hs.message or ""))`;
  const r = spawnSync('lua5.4', ['-'], { input: program, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [status, message] = r.stdout.split('\n');
  return { status, message };
}

const sandbox = (
  generation: number,
  status: Record<string, unknown> | undefined,
  extra: Record<string, unknown> = {},
) => ({
  metadata: { name: 'a', generation, ...extra },
  status,
});
const ready = (s: string) => [{ type: 'Ready', status: s, reason: 'R', message: `ready is ${s}` }];

test('Healthy only when Ready is True for the current generation', () => {
  assert.deepEqual(health(sandbox(2, { observedGeneration: 2, phase: 'Ready', conditions: ready('True') })), {
    status: 'Healthy',
    message: 'ready is True',
  });
  assert.equal(
    health(sandbox(3, { observedGeneration: 2, phase: 'Ready', conditions: ready('True') })).status,
    'Progressing',
  );
});

test('Progressing while starting or without status; Degraded when failed or degraded; Progressing while deleting', () => {
  assert.equal(health(sandbox(1, undefined)).status, 'Progressing');
  assert.equal(
    health(sandbox(1, { observedGeneration: 1, phase: 'Starting', conditions: ready('Unknown') })).status,
    'Progressing',
  );
  assert.equal(
    health(sandbox(1, { observedGeneration: 1, phase: 'Failed', conditions: ready('False') })).status,
    'Degraded',
  );
  assert.equal(
    health(sandbox(1, { observedGeneration: 1, phase: 'Degraded', conditions: ready('Unknown') })).status,
    'Degraded',
  );
  assert.equal(
    health(
      sandbox(
        1,
        { observedGeneration: 1, phase: 'Ready', conditions: ready('True') },
        { deletionTimestamp: '2026-01-01T00:00:00Z' },
      ),
    ).status,
    'Progressing',
  );
});
