#!/usr/bin/env node
// The lattice operator process. Every flag has an environment variable (flag wins):
//   --kubeconfig PATH                 KUBECONFIG        default: in-cluster ServiceAccount, else ~/.kube/config
//   --namespace NS                    WATCH_NAMESPACE   watch one namespace; default all namespaces
//   --probe-addr HOST:PORT            PROBE_ADDR        /healthz /readyz /metrics; default 127.0.0.1:8081
//   --leader-elect true|false         LEADER_ELECT      default true
//   --leader-election-id NAME         LEADER_ELECTION_ID         Lease name; default lattice-operator
//   --leader-election-namespace NS    POD_NAMESPACE     Lease namespace; default lattice-system
//   --leader-elect-lease-duration S   (15)  --leader-elect-renew-deadline S (10)  --leader-elect-retry-period S (2)
//                                     seconds; a standby takes over at most lease-duration after the leader dies
//   --server-url URL                  LATTICE_SERVER_URL   control-plane URL the datapaths enroll at;
//                                     default http://latticed.lattice-system:8080
//   --datapath-image IMAGE            LATTICE_DATAPATH_IMAGE   pin the datapath image for every sandbox
//   --nats-url URL                    LATTICE_NATS_URL  serve the control plane (operator/controlplane/) on
//                                     --control-plane-addr, talking to this nats-server; unset = no control plane
//   --control-plane-addr HOST:PORT    LATTICE_CONTROL_PLANE_ADDR  default 0.0.0.0:8080 (Service latticed)
//   --bus-url URL                     LATTICE_BUS_URL   the NATS address handed to datapaths; default --nats-url
//   --overlay-pool CIDR               LATTICE_OVERLAY_POOL  default 10.42.0.0/16
//   --static-peers FILE               LATTICE_STATIC_PEERS_FILE  JSON list of WireGuard peers added to every netmap
//   --workers N                       WORKERS           concurrent reconciles; default 16
//   --log-level debug|info|warn|error LOG_LEVEL         default info
// SIGTERM/SIGINT: stop reconciling, release the Lease (a standby takes over at once), exit 0.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { loadStaticPeers } from './controlplane/static-peers-file.ts';
import { startOperator } from './operator.ts';
import { createLogger, type Level } from './runtime/log.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    'probe-addr': { type: 'string' },
    'leader-elect': { type: 'string' },
    'leader-election-id': { type: 'string' },
    'leader-election-namespace': { type: 'string' },
    'leader-elect-lease-duration': { type: 'string' },
    'leader-elect-renew-deadline': { type: 'string' },
    'leader-elect-retry-period': { type: 'string' },
    'server-url': { type: 'string' },
    'datapath-image': { type: 'string' },
    'nats-url': { type: 'string' },
    'control-plane-addr': { type: 'string' },
    'bus-url': { type: 'string' },
    'overlay-pool': { type: 'string' },
    'static-peers': { type: 'string' },
    workers: { type: 'string' },
    'log-level': { type: 'string' },
  },
  strict: true,
});
const env = process.env;
const level = (values['log-level'] ?? env.LOG_LEVEL ?? 'info') as Level;
if (!['debug', 'info', 'warn', 'error'].includes(level)) {
  console.error(`--log-level must be debug, info, warn or error, not ${JSON.stringify(level)}`);
  process.exit(2);
}
const workers = Number(values.workers ?? env.WORKERS ?? 16);
if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
  console.error('--workers must be an integer between 1 and 64');
  process.exit(2);
}
const elect = (values['leader-elect'] ?? env.LEADER_ELECT ?? 'true') !== 'false';
const log = createLogger(level, { component: 'lattice-operator' });
const seconds = (flag: string, fallback: number): number => {
  const v = Number(values[flag as keyof typeof values] ?? fallback);
  if (!(v > 0 && v <= 3600)) {
    console.error(`--${flag} must be a number of seconds between 0 and 3600`);
    process.exit(2);
  }
  return v * 1000;
};
const leaseMs = seconds('leader-elect-lease-duration', 15);
const renewDeadlineMs = seconds('leader-elect-renew-deadline', 10);
const retryMs = seconds('leader-elect-retry-period', 2);

function controlPlaneOptions() {
  const natsURL = values['nats-url'] ?? env.LATTICE_NATS_URL;
  if (!natsURL) return undefined;
  const addr = values['control-plane-addr'] ?? env.LATTICE_CONTROL_PLANE_ADDR ?? '0.0.0.0:8080';
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--control-plane-addr must be HOST:PORT, not ${JSON.stringify(addr)}`);
    process.exit(2);
  }
  return {
    namespace: env.POD_NAMESPACE ?? 'lattice-system',
    host: addr.slice(0, i),
    port,
    natsURL,
    busURL: values['bus-url'] ?? env.LATTICE_BUS_URL,
    pool: values['overlay-pool'] ?? env.LATTICE_OVERLAY_POOL,
    staticPeers: loadStaticPeers(values['static-peers'] ?? env.LATTICE_STATIC_PEERS_FILE),
  };
}

try {
  const manager = await startOperator({
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    namespace: values.namespace ?? env.WATCH_NAMESPACE,
    probeAddr: values['probe-addr'] ?? env.PROBE_ADDR ?? '127.0.0.1:8081',
    leaderElection: elect
      ? {
          id: values['leader-election-id'] ?? env.LEADER_ELECTION_ID ?? 'lattice-operator',
          namespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'lattice-system',
          identity: `${env.POD_NAME ?? hostname()}_${process.pid}`,
          leaseMs,
          renewDeadlineMs,
          retryMs,
        }
      : undefined,
    serverURL: values['server-url'] ?? env.LATTICE_SERVER_URL ?? 'http://latticed.lattice-system:8080',
    datapathImage: values['datapath-image'] ?? env.LATTICE_DATAPATH_IMAGE,
    controlPlane: controlPlaneOptions(),
    workers,
    log,
    onLostLeadership: () => {
      log.error('lost leadership; exiting so a fresh process rejoins as a standby');
      process.exit(1);
    },
  });
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal: sig });
    await manager.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (e) {
  log.error('operator failed to start', { error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}
