// The shell script that starts one container's process inside the Pod's network namespace
// (run by `ip netns exec`, which also gives it a private mount namespace): bind-mount the
// Pod's volumes at their mount paths, then exec the program as the container's user.
// Pure: builds the script text; every argument is single-quoted.

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface LaunchPlan {
  /**
   * The "image": this repository (our entry points and the Node that runs them), bind-mounted at a
   * fixed path before the volumes, and the argv rewritten to it. Without it a volume mounted over a
   * directory that holds the checkout (an emptyDir at /tmp while the repository is cloned under /tmp)
   * would hide the program itself.
   */
  image?: { source: string; target: string };
  mounts: Mount[];
  workingDir: string;
  uid?: number;
  gid?: number;
  groups: number[];
  argv: string[];
}

export function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The mounts in an order where none hides the source of a later one: the volumes live under the
 * agent's state dir in $TMPDIR, so a volume mounted on /tmp before the others would hide their
 * sources ("special device ... does not exist"). Mounts that hide another's source go last.
 */
export function mountOrder(mounts: Mount[]): Mount[] {
  const under = (path: string, dir: string) =>
    path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  const hidesOther = (a: Mount) => mounts.some((b) => b !== a && under(b.source, a.target));
  return [...mounts.filter((m) => !hidesOther(m)), ...mounts.filter(hidesOther)];
}

export function launchScript(p: LaunchPlan): string {
  const lines = ['set -e'];
  let argv = p.argv;
  if (p.image) {
    const { source, target } = p.image;
    lines.push(`mkdir -p ${quote(target)}`);
    lines.push(`mount --bind ${quote(source)} ${quote(target)}`);
    argv = argv.map((a) =>
      a === source || a.startsWith(`${source}/`) ? target + a.slice(source.length) : a,
    );
  }
  for (const m of mountOrder(p.mounts)) {
    lines.push(`mkdir -p ${quote(m.target)}`);
    lines.push(`mount --bind ${quote(m.source)} ${quote(m.target)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${quote(m.target)}`);
  }
  lines.push(`cd ${quote(p.workingDir)}`);
  const user: string[] = [];
  if (p.uid !== undefined || p.gid !== undefined || p.groups.length > 0) {
    user.push('setpriv');
    if (p.uid !== undefined) user.push(`--reuid=${p.uid}`);
    const gid = p.gid ?? p.uid;
    if (gid !== undefined) user.push(`--regid=${gid}`);
    user.push(p.groups.length > 0 ? `--groups=${p.groups.join(',')}` : '--clear-groups');
    // changing credentials clears the parent-death signal; keep it so the process dies with the agent
    user.push('--pdeathsig=keep', '--');
  }
  lines.push(`exec ${[...user, ...argv.map(quote)].join(' ')}`);
  return lines.join('\n');
}
