// The one test entry point: `make test` → `npm test` → this file.
// Collects the test files, prints what runs them, and hands them to Node's own test runner.
//   node e2e/run-tests.ts                 every test
//   node e2e/run-tests.ts --unit          only tests that need no external service (*.test.ts, not *.e2e.test.ts)
//   node e2e/run-tests.ts FILE...         just these files
// When an *.e2e.test.ts file is selected, one local control plane is started first and shared by
// every test process (env LATTICE_CLUSTER_DIR, read by sharedCluster() in e2e/cluster); it is
// stopped at the end, on Ctrl-C, and (through its supervisor) if this process dies.
// After the runner, e2e/runner/result-audit.ts checks that every file reported every test it
// started (the runner alone passes a file whose process exited 0 with results unsent).
import './runner/blocking-stdio.ts';
import { spawn } from 'node:child_process';
import { cpSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Cluster, startCluster } from './cluster/index.ts';
import { auditRun, type RunRecord } from './runner/result-audit.ts';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));

const roots = ['crds', 'operator', 'datapath', 'e2e'];
let files = explicit.length > 0 ? explicit : roots.flatMap((r) => globSync(`${r}/**/*.test.ts`)).sort();
if (unitOnly) files = files.filter((f) => !f.endsWith('.e2e.test.ts'));

console.log(`lattice tests: node ${process.version} (${process.execPath}), ${files.length} files`);
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

let cluster: Cluster | undefined;
const env = { ...process.env };
if (files.some((f) => f.endsWith('.e2e.test.ts')) && !env.LATTICE_CLUSTER_DIR) {
  const t = Date.now();
  try {
    cluster = await startCluster();
  } catch (err) {
    console.error(`lattice tests: the local control plane did not start: ${(err as Error).message}`);
    process.exit(1);
  }
  env.LATTICE_CLUSTER_DIR = cluster.dir;
  console.log(
    `lattice tests: shared cluster ${cluster.apiServerURL} up in ${Date.now() - t} ms (${cluster.dir})`,
  );
}

const auditDir = mkdtempSync(join(tmpdir(), 'lattice-test-audit-'));
const auditFile = join(auditDir, 'run.json');
const runner = (f: string) => pathToFileURL(join(import.meta.dirname, 'runner', f)).href;
const child = spawn(
  process.execPath,
  [
    `--import=${runner('blocking-stdio.ts')}`,
    '--test',
    '--test-concurrency=2',
    '--test-timeout=900000',
    '--test-force-exit',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${runner('audit-reporter.ts')}`,
    `--test-reporter-destination=${auditFile}`,
    ...files,
  ],
  { stdio: 'inherit', env },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    child.kill(sig);
    rmSync(auditDir, { recursive: true, force: true });
    void cluster?.stop().finally(() => process.exit(130));
  });
}
let code = await new Promise<number>((done) => child.once('exit', (c, sig) => done(c ?? (sig ? 1 : 0))));
let record: RunRecord = { files: {}, summary: null };
try {
  record = JSON.parse(readFileSync(auditFile, 'utf8')) as RunRecord;
} catch {
  // no record: the runner died before the end of the run, which the audit reports
}
rmSync(auditDir, { recursive: true, force: true });
const problems = auditRun(
  files.map((f) => resolve(f)),
  record,
);
for (const p of problems)
  console.error(`lattice tests: UNACCOUNTED: ${p.file ? relative('.', p.file) : 'the run'}: ${p.message}`);
if (problems.length > 0) code = 1;
else console.log(`lattice tests: each of the ${files.length} files reported every test it started`);
if (cluster && code !== 0) {
  // the state dir goes away with the cluster; keep its component logs for the post-mortem
  const kept = join(import.meta.dirname, '..', '.lattice', 'last-failed-run-cluster-logs');
  rmSync(kept, { recursive: true, force: true });
  cpSync(join(cluster.dir, 'logs'), kept, { recursive: true });
  console.log(`lattice tests: the shared cluster's logs are kept in ${kept}`);
}
await cluster?.stop();
process.exit(code);
