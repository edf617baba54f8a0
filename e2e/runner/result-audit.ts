// Pure: does a `node --test` run account for every test it started? Node's runner counts what
// reaches it from each test file's process and says nothing about what did not: a file whose
// process exits 0 before its last results are read (an early process.exit, or --test-force-exit
// cutting off its report, nodejs/node#64833) is a passing file with fewer tests. So the run is
// recorded event by event (RunRecorder, fed by audit-reporter.ts inside the runner) and checked
// afterwards against the files that were meant to run (auditRun, called by e2e/run-tests.ts).

/** The counts of a `test:summary` event. */
export interface SummaryCounts {
  tests: number;
  suites: number;
  passed: number;
  failed: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

/** What reached the runner from one test file's process. */
export interface FileRecord {
  /** test:pass + test:fail of the file's tests and suites (not the file's own verdict) */
  results: number;
  /** tests that started (test:dequeue) and have no result yet, by test id */
  pending: Record<string, string>;
  /** the file process's closing summary; null if its report ended before it */
  summary: SummaryCounts | null;
  /** set when the runner failed the file itself: its process exited non-zero or by a signal */
  processFailure: { exitCode: number | null; signal: string | null } | null;
}

export interface RunRecord {
  files: Record<string, FileRecord>;
  /** the whole run's summary; null if the runner ended before it */
  summary: (SummaryCounts & { success: boolean }) | null;
}

/** One reporter event as node:test hands it to a reporter (only the fields used here). */
export interface ReporterEvent {
  type: string;
  data: {
    name?: string;
    nesting?: number;
    file?: string;
    entryFile?: string;
    testId?: number;
    counts?: Partial<SummaryCounts>;
    success?: boolean;
    details?: { error?: unknown };
  };
}

const emptyFile = (): FileRecord => ({ results: 0, pending: {}, summary: null, processFailure: null });

const countsOf = (c: Partial<SummaryCounts>): SummaryCounts => ({
  tests: c.tests ?? 0,
  suites: c.suites ?? 0,
  passed: c.passed ?? 0,
  failed: c.failed ?? 0,
  cancelled: c.cancelled ?? 0,
  skipped: c.skipped ?? 0,
  todo: c.todo ?? 0,
});

/** Folds the runner's events into a RunRecord. */
export class RunRecorder {
  readonly record: RunRecord = { files: {}, summary: null };

  #file(path: string): FileRecord {
    this.record.files[path] ??= emptyFile();
    return this.record.files[path];
  }

  add({ type, data }: ReporterEvent): void {
    // Events from inside a file's process carry entryFile; the runner's own events about the
    // file (its enqueue, its verdict) carry only file, at nesting 0.
    const inFile = data.entryFile;
    if (inFile === undefined) {
      if (type === 'test:summary' && data.file === undefined) {
        this.record.summary = { ...countsOf(data.counts ?? {}), success: data.success === true };
      } else if (data.file !== undefined && data.nesting === 0) {
        const f = this.#file(data.file);
        if (type === 'test:fail') f.processFailure = processFailureOf(data.details?.error);
      }
      return;
    }
    const f = this.#file(inFile);
    const id = String(data.testId);
    switch (type) {
      case 'test:dequeue':
        f.pending[id] = data.name ?? '?';
        break;
      case 'test:pass':
      case 'test:fail':
        f.results++;
        delete f.pending[id];
        break;
      case 'test:summary':
        f.summary = countsOf(data.counts ?? {});
        break;
    }
  }
}

function processFailureOf(error: unknown): FileRecord['processFailure'] {
  const e = (error ?? {}) as { exitCode?: unknown; signal?: unknown };
  return {
    exitCode: typeof e.exitCode === 'number' ? e.exitCode : null,
    signal: typeof e.signal === 'string' ? e.signal : null,
  };
}

/** One way a run failed to account for its tests. */
export interface AuditProblem {
  /** the test file, or null for the run as a whole */
  file: string | null;
  message: string;
}

/**
 * Every file in `files` (absolute paths) must have closed its report with a summary, every test
 * it started must have a result, and the results the runner received must be as many as the
 * file's process counted. A file that ran no test at all is a problem too (a test file whose
 * tests were never registered would otherwise pass).
 */
export function auditRun(files: readonly string[], record: RunRecord): AuditProblem[] {
  const problems: AuditProblem[] = [];
  if (record.summary === null) {
    problems.push({ file: null, message: 'the test runner ended before its summary' });
  }
  for (const file of files) {
    const f = record.files[file];
    if (f === undefined) {
      problems.push({ file, message: 'never reported anything (did its process start?)' });
      continue;
    }
    const pending = Object.values(f.pending);
    const pendingNote =
      pending.length > 0
        ? `; started with no result: ${pending.map((n) => JSON.stringify(n)).join(', ')}`
        : '';
    const exitNote = f.processFailure
      ? `; its process ${f.processFailure.signal ? `was killed by ${f.processFailure.signal}` : `exited ${f.processFailure.exitCode}`}`
      : '';
    if (f.summary === null) {
      problems.push({
        file,
        message: `its process ended before reporting all its results (${f.results} received, no closing summary)${pendingNote}${exitNote}`,
      });
      continue;
    }
    const expected = f.summary.tests + f.summary.suites;
    if (f.results !== expected || pending.length > 0) {
      problems.push({
        file,
        message: `its process counted ${expected} tests and suites, the runner received ${f.results} results${pendingNote}${exitNote}`,
      });
    } else if (expected === 0) {
      problems.push({ file, message: 'ran no tests' });
    }
  }
  return problems;
}
