// Process identity for crash safety. A pid file holds "PID STARTTIME" (the kernel's start time
// of that pid, /proc/PID/stat field 22), so a pid the kernel reused for an unrelated process is
// never mistaken for ours and never killed.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

export interface ProcId {
  pid: number;
  startTime: string;
}

export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses; fields after it are plain
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie has exited
    return fields[19];
  } catch {
    return undefined;
  }
}

export function selfId(): ProcId {
  return { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
}

export function idOf(pid: number): ProcId | undefined {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

export function writePidFile(path: string, id: ProcId): void {
  writeFileSync(path, `${id.pid} ${id.startTime}\n`, { mode: 0o600 });
}

export function readPidFile(path: string): ProcId | undefined {
  try {
    const [pid, startTime] = readFileSync(path, 'utf8').trim().split(' ');
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 ? { pid: n, startTime: startTime ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

/** The recorded process still runs (same pid and same start time). */
export function alive(id: ProcId | undefined): boolean {
  return id !== undefined && startTimeOf(id.pid) === id.startTime;
}

export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export function signal(id: ProcId, sig: NodeJS.Signals): boolean {
  if (!alive(id)) return false;
  try {
    process.kill(id.pid, sig);
    return true;
  } catch {
    return false;
  }
}

export async function waitGone(id: ProcId, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(id)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** SIGTERM, then SIGKILL after graceMs. Resolves once the process is gone. */
export async function terminate(id: ProcId, graceMs: number): Promise<void> {
  if (!signal(id, 'SIGTERM')) return;
  if (await waitGone(id, graceMs)) return;
  signal(id, 'SIGKILL');
  await waitGone(id, 5_000);
}

/** pid and all its descendants (parents from /proc/<pid>/stat), each with its start time. */
export function descendants(root: number): ProcId[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const [c, p] of parent) if (p === pids[i]) pids.push(c);
  return pids.map(idOf).filter((id): id is ProcId => id !== undefined);
}
