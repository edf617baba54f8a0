// The e2e node agent: TEST INFRASTRUCTURE, not a kubelet. It lets the local control plane run
// Pods without a container runtime: it registers a Node, binds pending Pods to it (there is no
// scheduler), runs each Pod's containers as local processes in the Pod's own network namespace
// with a pod IP (our images map to our entry points, see images.ts), mounts the Pod's volumes,
// resolves env from Secrets and ConfigMaps, runs the probes, reports Pod status, and cleans up
// when a Pod is deleted. See docs/node-agent.md.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../../operator/runtime/errors.ts';
import { Informer } from '../../operator/runtime/informer.ts';
import { KubeClient, type KubeObject, PODS } from '../../operator/runtime/kube.ts';
import { createLogger, type Level } from '../../operator/runtime/log.ts';
import { writeJson } from '../cluster/plan.ts';
import { alive, readPidFile, selfId, writePidFile } from '../cluster/proc.ts';
import type { Lookups } from './env.ts';
import { DEFAULT_IMAGE_RULES, type ImageRule } from './images.ts';
import { PodIpPool } from './ipam.ts';
import { createBridge, deleteBridge, deletePodNetwork, type PodNet, pickPodSubnet } from './network.ts';
import { NodeRegistration } from './node.ts';
import { type NodeContext, PodWorker, removePodObject } from './pod-worker.ts';

export { DEFAULT_IMAGE_RULES, type ImageRule } from './images.ts';

export interface NodeAgentOptions {
  kubeconfig: string;
  /** only bind and run Pods of these namespaces (tests share a cluster); default all */
  namespaces?: string[];
  nodeName?: string;
  /** image → entry point rules tried before the defaults */
  imageRules?: ImageRule[];
  logLevel?: Level;
}

export interface NodeAgent {
  nodeName: string;
  /** the node's /24, e.g. 10.244.17.0/24 */
  podCIDR: string;
  /** the node's address as pods see it (the bridge) */
  nodeIP: string;
  stateDir: string;
  podIP(namespace: string, name: string): string | undefined;
  /** what a container wrote to stdout and stderr so far */
  logs(namespace: string, name: string, container: string): string;
  stop(): Promise<void>;
}

const TEMP_PREFIX = 'lattice-node-agent-';

interface NetRecord {
  bridge: string;
  nets: PodNet[];
}

/** Removes the network namespaces, veths and bridges of agents that died without cleaning up. */
export async function reapStaleNodeAgents(): Promise<void> {
  for (const e of readdirSync(tmpdir()).filter((n) => n.startsWith(TEMP_PREFIX))) {
    const dir = join(tmpdir(), e);
    const owner = readPidFile(join(dir, 'agent.pid'));
    if (alive(owner)) continue;
    if (!owner) {
      try {
        if (Date.now() - statSync(dir).mtimeMs < 60_000) continue;
      } catch {
        continue;
      }
    }
    try {
      const rec = JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8')) as NetRecord;
      for (const n of rec.nets) await deletePodNetwork(n);
      await deleteBridge(rec.bridge);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
  );
}

export async function startNodeAgent(opts: NodeAgentOptions): Promise<NodeAgent> {
  await reapStaleNodeAgents();
  const id = randomBytes(3).toString('hex');
  const nodeName = opts.nodeName ?? `lattice-e2e-node-${id}`;
  const log = createLogger(opts.logLevel ?? 'warn', { component: 'e2e-node-agent', node: nodeName });
  const stateDir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  writePidFile(join(stateDir, 'agent.pid'), selfId());
  const prefix = await pickPodSubnet();
  const pool = new PodIpPool(prefix);
  const bridge = `lnb${id}`;
  const record: NetRecord = { bridge, nets: [] };
  const saveRecord = () => writeJson(join(stateDir, 'network.json'), record);
  saveRecord();
  await createBridge(bridge, pool.gateway);

  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const client = new KubeClient(kc);
  const lookups: Lookups = {
    async secret(ns, name) {
      try {
        const s = await client.request<{ data?: Record<string, string> }>(
          'GET',
          `/api/v1/namespaces/${ns}/secrets/${name}`,
        );
        return decode(s.data);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async configMap(ns, name) {
      try {
        const c = await client.request<{
          data?: Record<string, string>;
          binaryData?: Record<string, string>;
        }>('GET', `/api/v1/namespaces/${ns}/configmaps/${name}`);
        return { ...decode(c.binaryData), ...(c.data ?? {}) };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
  let netSeq = 0;
  const ctx: NodeContext = {
    client,
    nodeName,
    bridge,
    gateway: pool.gateway,
    pool,
    stateDir,
    imageRules: [...(opts.imageRules ?? []), ...DEFAULT_IMAGE_RULES],
    nodePath: process.execPath,
    log,
    lookups,
    async serviceAccountToken(ns, sa, audience, seconds) {
      const r = await client.request<{ status: { token: string } }>(
        'POST',
        `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { audiences: audience ? [audience] : undefined, expirationSeconds: seconds },
          },
        },
      );
      return r.status.token;
    },
    allocateNet(ip) {
      const n = (netSeq++).toString(16).padStart(4, '0');
      const net = { netns: `lnp${id}${n}`, hostVeth: `lnv${id}${n}`, ip };
      record.nets.push(net);
      saveRecord();
      return net;
    },
    releaseNet(net) {
      record.nets = record.nets.filter((n) => n.netns !== net.netns);
      saveRecord();
    },
  };

  const registration = new NodeRegistration(client, nodeName, pool.gateway, pool.cidr);
  await registration.register();

  const workers = new Map<string, PodWorker>();
  const binding = new Set<string>();
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
  };

  const bind = async (pod: V1Pod) => {
    const m = pod.metadata!;
    if (binding.has(m.uid!)) return;
    binding.add(m.uid!);
    try {
      await client.request('POST', `/api/v1/namespaces/${m.namespace}/pods/${m.name}/binding`, {
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: m.name, namespace: m.namespace, uid: m.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        },
      });
    } catch (err) {
      // another agent bound it first (409), or it is gone
      log.debug('bind failed', { pod: `${m.namespace}/${m.name}`, error: (err as Error).message });
    } finally {
      binding.delete(m.uid!);
    }
  };

  const observe = (o: KubeObject) => {
    const pod = o as unknown as V1Pod;
    const m = pod.metadata!;
    const spec = pod.spec!;
    if (!spec.nodeName) {
      const scheduler = spec.schedulerName ?? 'default-scheduler';
      const selected = Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
      if (scheduler === 'default-scheduler' && selected && !m.deletionTimestamp) void bind(pod);
      return;
    }
    if (spec.nodeName !== nodeName) return;
    const w = workers.get(m.uid!);
    if (w) {
      w.update(pod);
      return;
    }
    if (m.deletionTimestamp) {
      // never ran here (e.g. the agent restarted): finish the deletion as the kubelet would
      void removePodObject(client, pod).catch(() => {});
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const worker = new PodWorker(pod, ctx);
    workers.set(m.uid!, worker);
    void worker
      .start()
      .catch((err) => log.error('pod start failed', { pod: worker.key, error: String(err) }));
  };

  const forget = (o: KubeObject) => {
    const w = workers.get(o.metadata.uid!);
    if (!w) return;
    workers.delete(o.metadata.uid!);
    void w.destroy(2_000);
  };

  const informers = (opts.namespaces ?? [undefined]).map(
    (namespace) => new Informer(client, PODS, { namespace, log, resyncMs: 30_000 }),
  );
  for (const inf of informers) {
    inf.addHandlers({
      onAdd: observe,
      onUpdate: (_old, cur) => observe(cur),
      onResync: observe,
      onDelete: forget,
    });
    inf.start();
  }
  await Promise.all(informers.map((i) => i.waitForSync()));

  const find = (namespace: string, name: string) =>
    [...workers.values()].find(
      (w) => w.pod.metadata?.namespace === namespace && w.pod.metadata?.name === name,
    );

  let stopped: Promise<void> | undefined;
  return {
    nodeName,
    podCIDR: pool.cidr,
    nodeIP: pool.gateway,
    stateDir,
    podIP: (ns, name) => find(ns, name)?.podIP,
    logs(ns, name, container) {
      const w = find(ns, name);
      if (!w) throw new Error(`pod ${ns}/${name} does not run on ${nodeName}`);
      try {
        return readFileSync(w.logFile(container), 'utf8');
      } catch {
        return '';
      }
    },
    stop() {
      stopped ??= (async () => {
        await Promise.all(informers.map((i) => i.stop()));
        await Promise.all([...workers.values()].map((w) => w.destroy(2_000)));
        workers.clear();
        await registration
          .deregister()
          .catch((err) => log.warn('node deregistration failed', { error: String(err) }));
        await deleteBridge(bridge);
        rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
