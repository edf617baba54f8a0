// Cleans up after crashed runs. Components die with their supervisor (pdeathsig) and the
// supervisor stops the cluster when its owner dies, so normally nothing is left; this handles
// the rest (a supervisor killed with SIGKILL leaves its state dir; a host that lost power
// leaves everything) before a new cluster starts.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout } from './config.ts';
import { alive, cmdlineOf, readPidFile, terminate } from './proc.ts';

export const TEMP_PREFIX = 'lattice-cluster-';

/** Kills processes recorded in dir's pid files (only if they still are ours: same start time and
 *  a command line naming dir) and reports whether the cluster's supervisor or owner still run. */
export async function killLeftovers(dir: string): Promise<void> {
  const L = layout(dir);
  let names: string[] = [];
  try {
    names = readdirSync(L.pids);
  } catch {}
  for (const name of names) {
    const id = readPidFile(join(L.pids, name));
    if (id && alive(id) && cmdlineOf(id.pid).includes(dir)) await terminate(id, 5_000);
    rmSync(join(L.pids, name), { force: true });
  }
}

export function supervisorAlive(dir: string): boolean {
  return alive(readPidFile(layout(dir).supervisorPid));
}

/** Removes temp cluster dirs whose owner and supervisor are both gone. */
export async function reapStaleTempClusters(): Promise<string[]> {
  const reaped: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(TEMP_PREFIX));
  } catch {}
  for (const e of entries) {
    const dir = join(tmpdir(), e);
    const L = layout(dir);
    const owner = readPidFile(L.ownerPid);
    const sup = readPidFile(L.supervisorPid);
    if (alive(owner) || alive(sup)) continue;
    // a dir being created right now has no owner.pid yet for a few milliseconds
    if (!owner && !sup) {
      try {
        if (Date.now() - statSync(dir).mtimeMs < 60_000) continue;
      } catch {
        continue;
      }
    }
    await killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}
