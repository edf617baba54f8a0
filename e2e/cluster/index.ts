// The local Kubernetes control plane for tests and the demo: real kube-apiserver, etcd,
// kube-controller-manager and nats-server on loopback, TLS between them, RBAC on.
// This file is the public API; the pieces live beside it (pki, supervisor, config, health).

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface Cluster {
  /** state dir (pid files, data, certs, kubeconfigs) */
  dir: string;
  /** https://127.0.0.1:PORT */
  apiServerURL: string;
  /** path of a kubeconfig for cluster-admin */
  adminKubeconfig: string;
  /** path of a kubeconfig whose identity is ServiceAccount lattice-system/lattice-operator
   *  (token from TokenRequest); it is bound only by the RBAC the tests apply from config/ */
  operatorKubeconfig: string;
  /** nats://127.0.0.1:PORT (JetStream on; a current nats-server) */
  natsURL: string;
  /** http://127.0.0.1:PORT (nats-server monitoring endpoint) */
  natsMonitorURL: string;
  /** folder with kubectl, kube-apiserver, kube-controller-manager */
  binDir: string;
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<KubectlResult>;
  /** stop + start the apiserver with the same data and port (fault tests) */
  restartApiServer(): Promise<void>;
  /** stop every process and remove the state dir (a no-op detach for an attached shared cluster) */
  stop(): Promise<void>;
}

export interface StartOptions {
  dir?: string;
  withControllerManager?: boolean;
  withNats?: boolean;
}

export function startCluster(_opts?: StartOptions): Promise<Cluster> {
  throw new Error('e2e/cluster: startCluster is being implemented (issue 2)');
}

/** Attach to the cluster e2e/run-tests.ts started (env LATTICE_CLUSTER_DIR), or start one for
 *  this process that is stopped when the process exits. */
export function sharedCluster(): Promise<Cluster> {
  throw new Error('e2e/cluster: sharedCluster is being implemented (issue 2)');
}
