// The one test entry point: `make test` → `npm test` → this file.
// Collects the test files, prints what runs them, and hands them to Node's own test runner.
//   node e2e/run-tests.ts                 every test
//   node e2e/run-tests.ts --unit          only tests that need no external service (*.test.ts, not *.e2e.test.ts)
//   node e2e/run-tests.ts FILE...         just these files
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

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

const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=900000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: process.env },
);
process.exit(result.status ?? 1);
