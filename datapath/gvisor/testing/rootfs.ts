// Tests only: a minimal agent rootfs made of Debian's busybox and the shared libraries ldd lists,
// with applet links (sh, wget, nc, printf, wc, echo, id, sleep, cat, ls), readable by the agent uid.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Builds the rootfs in root (a new temporary directory by default; the demo passes its state dir). */
export function busyboxRootfs(root = mkdtempSync(join(tmpdir(), 'lattice-rootfs-'))): string {
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  const copy = (from: string) => {
    const to = join(root, from);
    mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
    copyFileSync(from, to);
    chmodSync(to, 0o755);
  };
  copy('/bin/busybox');
  const ldd = execFileSync('ldd', ['/bin/busybox'], { encoding: 'utf8' });
  for (const m of ldd.matchAll(/(\/[^\s]+\.so[^\s]*)/g)) copy(m[1]);
  for (const a of ['sh', 'wget', 'nc', 'printf', 'wc', 'echo', 'id', 'sleep', 'cat', 'ls'])
    symlinkSync('busybox', join(root, 'bin', a));
  mkdirSync(join(root, 'etc'), { mode: 0o755 });
  // /dev/null for the plain-process runtime (busybox sh points a background job's stdin at it);
  // runsc mounts its own /dev
  mkdirSync(join(root, 'dev'), { mode: 0o755 });
  execFileSync('mknod', ['-m', '666', join(root, 'dev', 'null'), 'c', '1', '3']);
  return root;
}
