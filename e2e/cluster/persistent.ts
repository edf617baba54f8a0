// A cluster that outlives the command that started it (`make cluster-up`, `make demo`): one per
// state dir, found again by the next command through the dir's pid files.
import { join } from 'node:path';
import { layout } from './config.ts';
import { attachCluster, type Cluster, startCluster, stopDir } from './index.ts';
import { readJson } from './plan.ts';
import { supervisorAlive } from './reaper.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Returns the running cluster of dir, or starts one there. */
export async function ensureCluster(dir: string): Promise<{ cluster: Cluster; started: boolean }> {
  if (supervisorAlive(dir) && readJson(layout(dir).cluster))
    return { cluster: attachCluster(dir), started: false };
  const cluster = await startCluster({ dir, persistent: true });
  return { cluster, started: true };
}

/** Stops the cluster of dir; false if none was running. */
export async function downCluster(dir: string): Promise<boolean> {
  const running = supervisorAlive(dir);
  await stopDir(dir);
  return running;
}

/** The shell lines that point kubectl at the cluster; the caller prints them last. */
export function exportLines(c: Cluster): string[] {
  return [`export KUBECONFIG=${c.adminKubeconfig}`, `export PATH=${c.binDir}:$PATH`];
}
