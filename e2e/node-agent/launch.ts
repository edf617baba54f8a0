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

export function launchScript(p: LaunchPlan): string {
  const lines = ['set -e'];
  for (const m of p.mounts) {
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
  lines.push(`exec ${[...user, ...p.argv.map(quote)].join(' ')}`);
  return lines.join('\n');
}
