// `lattice audit verify FILE...`: checks the hash chain of audit files given oldest first (rotated
// files, then the current one). Exit 0 when intact, 1 with the first bad line named otherwise.

import { readFileSync } from 'node:fs';
import { type ChainState, verifyLines } from '../audit/record.ts';

export function auditVerify(argv: readonly string[]): number {
  if (argv.length === 0 || argv.includes('--help')) {
    process.stdout.write(
      'usage: lattice audit verify FILE...   (rotated files oldest first, e.g. audit.jsonl.2 audit.jsonl.1 audit.jsonl)\n',
    );
    return argv.length === 0 ? 64 : 0;
  }
  let anchor: ChainState | null = null;
  let total = 0;
  for (const file of argv) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      process.stderr.write(
        `lattice audit verify: ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`,
      );
      return 1;
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const r = verifyLines(lines, anchor);
    if (!r.ok) {
      process.stdout.write(`FAIL ${file}:${r.line}: ${r.why}\n`);
      return 1;
    }
    total += r.records;
    anchor = r.last ?? anchor;
  }
  process.stdout.write(
    `OK ${total} records, chain intact${anchor === null ? '' : ` through seq ${anchor.seq}`}\n`,
  );
  return 0;
}
