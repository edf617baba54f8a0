// e2e/run-tests.ts itself, on synthetic test files in a temporary dir: a test file's process that
// ends mid-way fails the run and is named, even when Node's own summary says "fail 0"; a file
// with a large report arrives whole.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';

const RUN_TESTS = join(import.meta.dirname, '..', 'run-tests.ts');

const header = `import { test } from 'node:test';\nconst pause = (ms) => new Promise((r) => setTimeout(r, ms));\n`;
const SOURCES: Record<string, string> = {
  'fine.test.mjs': `${header}test('f0', () => {});\ntest('f1', async () => { await pause(200); });\n`,
  // exits 0 in its second test: Node's runner sees a clean exit and passes the file
  'quits.test.mjs': `${header}test('q0', () => {});\ntest('q1', async () => { await pause(100); process.exit(0); });\ntest('q2', () => {});\n`,
  'killed.test.mjs': `${header}test('k0', () => {});\ntest('k1', async () => { await pause(100); process.kill(process.pid, 'SIGKILL'); await pause(5000); });\n`,
  // ~2.7 MB of report, far more than the socket to the runner holds
  'big.test.mjs': `${header}for (let i = 0; i < 2000; i++) test(\`big \${i} \${'x'.repeat(100)}\`, () => {});\n`,
};

/** Runs e2e/run-tests.ts on the named synthetic files (no *.e2e.test.ts, so no cluster). */
async function runTests(t: TestContext, names: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-run-tests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const n of names) writeFileSync(join(dir, n), SOURCES[n]);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // set for this file's process; a runner that sees it runs nothing
  delete env.LATTICE_CLUSTER_DIR;
  const child = spawn(process.execPath, [RUN_TESTS, ...names], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // bound: never hang the run
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr, out: `${stdout}\n${stderr}` };
}

test('a file whose process exits 0 mid-way fails the run, naming it and the test left without a result', async (t) => {
  const r = await runTests(t, ['fine.test.mjs', 'quits.test.mjs']);
  assert.match(r.stdout, /ℹ fail 0\n/, `Node's own summary passes it:\n${r.out}`);
  assert.equal(r.code, 1, r.out);
  assert.match(
    r.stderr,
    /UNACCOUNTED: quits\.test\.mjs: its process ended before reporting all its results \(1 received, no closing summary\); started with no result: "q1"/,
  );
  assert.doesNotMatch(r.stderr, /fine\.test\.mjs/);
});

test('a file whose process is killed mid-way fails the run, with the signal and the test it was in', async (t) => {
  const r = await runTests(t, ['fine.test.mjs', 'killed.test.mjs']);
  assert.equal(r.code, 1, r.out);
  assert.match(r.stderr, /UNACCOUNTED: killed\.test\.mjs: .*"k1"; its process was killed by SIGKILL/);
});

test('a file with a large report, next to a slower one, arrives whole and the run passes', async (t) => {
  const r = await runTests(t, ['big.test.mjs', 'fine.test.mjs']);
  assert.equal(r.code, 0, r.out.slice(-3000));
  assert.match(r.stdout, /ℹ tests 2002\nℹ suites 0\nℹ pass 2002\n/);
  assert.match(r.stdout, /lattice tests: each of the 2 files reported every test it started/);
  assert.equal(r.stderr, '');
});
