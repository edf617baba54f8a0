// Runs the fence's rules through iptables-restore / ip6tables-restore (the thin adapter over the
// pure rules in rules.ts). Errors are classified so the init container's log says what to fix.

import { spawn } from 'node:child_process';
import { type Family, type FenceSpec, fenceRestoreInput, jumpRule } from './rules.ts';

export type FenceErrorKind = 'missing-tool' | 'permission' | 'failed';

export class FenceError extends Error {
  readonly kind: FenceErrorKind;
  constructor(kind: FenceErrorKind, message: string) {
    super(message);
    this.name = 'FenceError';
    this.kind = kind;
  }
}

interface Result {
  code: number | null;
  stderr: string;
}

function exec(cmd: string, args: string[], stdin: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new FenceError('missing-tool', `${cmd} not found: install the iptables package in the image`)
          : new FenceError('failed', `${cmd}: ${e.message}`),
      ),
    );
    p.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
    p.stdin.on('error', () => {}); // the tool may exit before reading (reported by its exit code)
    p.stdin.end(stdin);
  });
}

function classify(cmd: string, r: Result): FenceError {
  if (/permission denied|you must be root|operation not permitted/i.test(r.stderr))
    return new FenceError(
      'permission',
      `${cmd}: permission denied — the fence container needs CAP_NET_ADMIN (${r.stderr.split('\n')[0]})`,
    );
  return new FenceError('failed', `${cmd} exited ${r.code}: ${r.stderr || '(no output)'}`);
}

const TOOLS: Record<Family, { restore: string; tables: string }> = {
  ipv4: { restore: 'iptables-restore', tables: 'iptables' },
  ipv6: { restore: 'ip6tables-restore', tables: 'ip6tables' },
};

/** Installs (or refreshes) the fence for one family. Safe to run again. */
export async function applyFence(spec: FenceSpec, family: Family): Promise<void> {
  const t = TOOLS[family];
  const r = await exec(t.restore, ['--noflush', '-w', '5'], fenceRestoreInput(spec, family));
  if (r.code !== 0) throw classify(t.restore, r);
  const check = await exec(t.tables, ['-w', '5', '-C', ...jumpRule()], '');
  if (check.code === 0) return; // jump already there
  if (check.code !== 1) throw classify(t.tables, check);
  const ins = await exec(
    t.tables,
    ['-w', '5', '-I', ...jumpRule().slice(0, 1), '1', ...jumpRule().slice(1)],
    '',
  );
  if (ins.code !== 0) throw classify(t.tables, ins);
}
