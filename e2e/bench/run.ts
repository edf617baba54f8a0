// `make bench`: runs every `*.bench.ts` in the tree, one after another (benchmarks share 2 cores,
// so never in parallel), each printing its own table with its comparison peer measured in the same run.
//   node e2e/bench/run.ts              all benchmarks
//   node e2e/bench/run.ts FILTER...    only files whose path contains one of the filters
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const filters = process.argv.slice(2);
const files = ['datapath', 'operator', 'e2e']
  .flatMap((r) => globSync(`${r}/**/*.bench.ts`))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

console.log(
  `lattice bench: node ${process.version}, ${files.length} benchmark files, ${new Date().toISOString()}`,
);
let failed = 0;
for (const file of files) {
  console.log(`\n## ${file}\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', file], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`(${file} failed with exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
