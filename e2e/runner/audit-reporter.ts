// A node:test reporter (`--test-reporter=e2e/runner/audit-reporter.ts`, next to spec) that writes
// the run as one JSON RunRecord when the run ends, for e2e/run-tests.ts to audit. Nothing is
// written if the runner dies first, which the audit reads as a failed run.
import { type ReporterEvent, RunRecorder } from './result-audit.ts';

export default async function* auditReporter(source: AsyncIterable<ReporterEvent>): AsyncGenerator<string> {
  const recorder = new RunRecorder();
  for await (const event of source) recorder.add(event);
  yield `${JSON.stringify(recorder.record)}\n`;
}
