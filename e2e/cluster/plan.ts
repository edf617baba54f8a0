// The plan the owner writes for the supervisor, and the state the supervisor reports back.
// Both are JSON files in the state dir, so any process (a test, the CLI) can read them.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ComponentName, ComponentSpec } from './config.ts';
import type { ProcId } from './proc.ts';

export interface Plan {
  dir: string;
  /** the process whose death stops the cluster; absent for `make cluster-up` (lives until down) */
  owner?: ProcId;
  /** remove the state dir when the cluster stops */
  removeOnStop: boolean;
  /** started in order; components of one group start together */
  groups: ComponentSpec[][];
}

export type ComponentPhase = 'pending' | 'starting' | 'ready' | 'stopping' | 'stopped' | 'exited';
export type ClusterPhase = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

export interface SupervisorState {
  phase: ClusterPhase;
  components: Partial<Record<ComponentName, { phase: ComponentPhase; pid?: number; exit?: string }>>;
  error?: { name: string; message: string };
}

/** What a test needs to use a running cluster; written once the cluster is ready. */
export interface ClusterInfo {
  /** state dir (pid files, data, certs, kubeconfigs) */
  dir: string;
  /** https://127.0.0.1:PORT */
  apiServerURL: string;
  /** path of a kubeconfig for cluster-admin */
  adminKubeconfig: string;
  /** path of a kubeconfig whose identity is ServiceAccount lattice-system/lattice-operator
   *  (token from TokenRequest); it is bound only by the RBAC the tests apply from config/ */
  operatorKubeconfig: string;
  /** nats://127.0.0.1:PORT (JetStream on; a current nats-server); '' without NATS */
  natsURL: string;
  /** http://127.0.0.1:PORT (nats-server monitoring endpoint); '' without NATS */
  natsMonitorURL: string;
  /** folder with kubectl, kube-apiserver, kube-controller-manager */
  binDir: string;
  /** the cluster CA (PEM file) that signed the apiserver's serving certificate */
  caFile: string;
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Write-then-rename, so a reader never sees half a file. */
export function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
