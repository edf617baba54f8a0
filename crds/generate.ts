// `node crds/generate.ts` (or `npm run gen:crds`): writes the CRD YAML and the TypeScript types
// from crds/schema.ts. `--check` exits 1 when a checked-in copy differs instead of writing.
import { readFileSync, writeFileSync } from 'node:fs';
import { CRD_PATH, renderCRD, renderTypes, TYPES_PATH } from './render.ts';

const check = process.argv.includes('--check');
let drift = false;
for (const [path, text] of [
  [CRD_PATH, renderCRD()],
  [TYPES_PATH, renderTypes()],
] as const) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {}
  if (current === text) continue;
  if (check) {
    console.error(`${path} is out of date: run node crds/generate.ts`);
    drift = true;
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
process.exit(drift ? 1 : 0);
