// The operator as a function: build the runtime Manager, register the sandbox reconciler,
// start. operator/main.ts parses flags into these options; tests call it in-process.
import { KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, type ControlPlaneOptions } from './controlplane/control-plane.ts';
import { createLogger, type Level, type Logger } from './runtime/log.ts';
import { Manager } from './runtime/manager.ts';
import { type IdentityRevoker, InMemoryIdentityRevoker } from './sandbox/identity.ts';
import { sandboxHandler } from './sandbox/reconciler.ts';

export type OperatorOptions = {
  /** Path of a kubeconfig; undefined = in-cluster ServiceAccount, else $KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string;
  namespace?: string;
  /** Watch tuning for tests: server-side timeout (s) and the idle limit (ms) after which a silent stream is dropped. */
  watch?: { timeoutSeconds?: number; idleMs?: number };
  probeAddr?: string;
  leaderElection?: {
    id: string;
    namespace: string;
    identity?: string;
    leaseMs?: number;
    renewDeadlineMs?: number;
    retryMs?: number;
  };
  serverURL: string;
  datapathImage?: string;
  workers?: number;
  resyncMs?: number;
  pollIntervalMs?: number;
  pollTimeoutMs?: number;
  revoker?: IdentityRevoker;
  /** Serve the control plane (enrollment, netmaps, audit query) in this process; it is also the revoker. */
  controlPlane?: Omit<ControlPlaneOptions, 'kubeConfig' | 'isLeader' | 'log'>;
  log?: Logger;
  logLevel?: Level;
  onLostLeadership?(): void;
};

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export async function startOperator(o: OperatorOptions): Promise<Manager> {
  const log = o.log ?? createLogger(o.logLevel ?? 'info', { component: 'lattice-operator' });
  const le = o.leaderElection;
  const manager = new Manager({
    kubeConfig: loadKubeConfig(o.kubeconfig),
    log,
    namespace: o.namespace,
    watch: o.watch,
    probeAddr: o.probeAddr,
    leaderElection: le && {
      name: le.id,
      namespace: le.namespace,
      identity: le.identity,
      leaseMs: le.leaseMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryMs: le.retryMs,
    },
    onLostLeadership: o.onLostLeadership,
  });
  // The control plane serves on every replica (its state is in Kubernetes and NATS); only its
  // housekeeping follows the Lease.
  let controlPlane: ControlPlane | undefined;
  if (o.controlPlane) {
    const cpLog = log.child({ component: 'control-plane' });
    controlPlane = new ControlPlane({
      ...o.controlPlane,
      kubeConfig: loadKubeConfig(o.kubeconfig),
      isLeader: () => manager.isLeader,
      log: (level, msg, f) => cpLog[level](msg, f),
    });
    await controlPlane.start();
  }
  manager.register(
    sandboxHandler({
      serverURL: o.serverURL,
      datapathImage: o.datapathImage,
      revoker: o.revoker ?? controlPlane ?? new InMemoryIdentityRevoker(),
      workers: o.workers,
      resyncMs: o.resyncMs,
      pollIntervalMs: o.pollIntervalMs,
      pollTimeoutMs: o.pollTimeoutMs,
    }),
  );
  await manager.start();
  if (controlPlane) {
    const cp = controlPlane;
    const stopManager = manager.stop.bind(manager);
    manager.stop = async () => {
      await stopManager();
      await cp.stop();
    };
  }
  return manager;
}
