// The audit over recorded runner events: the event shapes are the ones node:test 24 hands a
// reporter (entryFile on events from a file's process, none on the runner's own verdict).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditRun, type ReporterEvent, RunRecorder } from './result-audit.ts';

const F = '/repo/x.test.ts';
const G = '/repo/y.test.ts';
const summary = (tests: number, suites = 0) => ({ tests, suites, passed: tests, failed: 0 });

/** The events of one test that ran to its result inside file `f`. */
const ran = (f: string, id: number, name: string, type = 'test:pass'): ReporterEvent[] => [
  { type: 'test:enqueue', data: { name, nesting: 0, file: f, entryFile: f, testId: id } },
  { type: 'test:dequeue', data: { name, nesting: 0, file: f, entryFile: f, testId: id } },
  { type: 'test:start', data: { name, nesting: 0, file: f, entryFile: f, testId: id } },
  { type: type, data: { name, nesting: 0, file: f, entryFile: f, testId: id } },
];
const started = (f: string, id: number, name: string): ReporterEvent[] => ran(f, id, name).slice(0, 2);
const fileSummary = (f: string, tests: number, suites = 0): ReporterEvent => ({
  type: 'test:summary',
  data: { file: f, entryFile: f, counts: summary(tests, suites), success: true },
});
const runSummary = (tests: number): ReporterEvent => ({
  type: 'test:summary',
  data: { counts: summary(tests), success: true },
});

function audit(files: string[], events: ReporterEvent[]) {
  const r = new RunRecorder();
  for (const e of events) r.add(e);
  return auditRun(files, r.record);
}

test('a run where every file closed its report with all its results has no problem', () => {
  const events = [
    ...ran(F, 1, 'a'),
    ...ran(F, 2, 'b', 'test:fail'),
    fileSummary(F, 2),
    ...ran(G, 1, 'suite'),
    ...ran(G, 2, 'inner'),
    fileSummary(G, 1, 1),
    runSummary(3),
  ];
  assert.deepEqual(audit([F, G], events), []);
});

test('a file whose process stopped after a test started: named, with the test that has no result', () => {
  // what --test-force-exit's cut-off looked like: test:start sent, test:pass never read, exit 0
  const events = [
    ...ran(F, 1, 'a'),
    ...started(F, 2, 'b'),
    ...ran(G, 1, 'c'),
    fileSummary(G, 1),
    runSummary(2),
  ];
  const problems = audit([F, G], events);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].file, F);
  assert.match(
    problems[0].message,
    /ended before reporting all its results \(1 received, no closing summary\)/,
  );
  assert.match(problems[0].message, /started with no result: "b"/);
});

test("a file killed by a signal: the runner's own verdict on the file names the signal", () => {
  const verdict: ReporterEvent = {
    type: 'test:fail',
    data: {
      name: 'x.test.ts',
      nesting: 0,
      file: F,
      details: { error: { exitCode: null, signal: 'SIGKILL' } },
    },
  };
  const problems = audit([F], [...ran(F, 1, 'a'), ...started(F, 2, 'b'), verdict, runSummary(2)]);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /started with no result: "b"; its process was killed by SIGKILL/);
});

test('fewer results than the file counted is a problem even with its summary there', () => {
  const problems = audit([F], [...ran(F, 1, 'a'), fileSummary(F, 2), runSummary(1)]);
  assert.deepEqual(problems, [
    { file: F, message: 'its process counted 2 tests and suites, the runner received 1 results' },
  ]);
});

test('a file that never reported, a file with no tests, and a run without its summary are problems', () => {
  const problems = audit([F, G], [fileSummary(G, 0)]);
  assert.deepEqual(problems, [
    { file: null, message: 'the test runner ended before its summary' },
    { file: F, message: 'never reported anything (did its process start?)' },
    { file: G, message: 'ran no tests' },
  ]);
});

test("the run's own events (no entryFile) are not counted as a file's results", () => {
  // a passing file's own verdict is not reported by node:test once it had results, but a file
  // with an own verdict and results must still balance on its results alone
  const own: ReporterEvent = { type: 'test:pass', data: { name: 'x.test.ts', nesting: 0, file: F } };
  assert.deepEqual(audit([F], [...ran(F, 1, 'a'), own, fileSummary(F, 1), runSummary(1)]), []);
});
