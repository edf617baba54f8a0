// One Pod on this node, from binding to deletion: network namespace and IP, volumes, init
// containers in order (a sidecar — an init container with restartPolicy Always — must have
// started before the next one runs), then the containers; status written back on every change;
// on deletion the containers get their grace period, the namespace is removed, and the Pod
// object is deleted for good (as the kubelet does).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { isNotFound } from '../../operator/runtime/errors.ts';
import type { KubeClient } from '../../operator/runtime/kube.ts';
import type { Logger } from '../../operator/runtime/log.ts';
import { type ContainerHost, ContainerRunner } from './container.ts';
import { ContainerConfigError, expand, resolveEnv } from './env.ts';
import { containerArgv, IMAGE_ROOT, type ImageRule, REPO_ROOT } from './images.ts';
import type { PodIpPool } from './ipam.ts';
import { launchScript, type Mount } from './launch.ts';
import { createPodNetwork, deletePodNetwork, type PodNet } from './network.ts';
import { keepTransitionTimes, type PodFacts, podStatus } from './pod-status.ts';
import { prepareVolume, type VolumeContext, type VolumeSource } from './volumes.ts';

/** What the node agent gives each Pod worker; lookups and tokens are handed on to the volumes. */
export interface NodeContext extends Pick<VolumeContext, 'lookups' | 'serviceAccountToken'> {
  client: KubeClient;
  nodeName: string;
  bridge: string;
  gateway: string;
  pool: PodIpPool;
  stateDir: string;
  imageRules: ImageRule[];
  nodePath: string;
  log: Logger;
  /** unique netns and host veth names, recorded so a crashed agent's leftovers can be removed */
  allocateNet(ip: string): PodNet;
  releaseNet(net: PodNet): void;
}

class ImageNotMapped extends Error {
  override name = 'ImageNotMapped';
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const statusKey = (s: V1PodStatus) =>
  JSON.stringify(s, (k, v) => (k === 'lastTransitionTime' || k === 'lastProbeTime' ? undefined : v));

/** The kubelet's last step of a graceful deletion: remove the Pod object now (grace 0), and only
 *  this incarnation of it (uid precondition), so a recreated Pod of the same name is untouched. */
export function removePodObject(client: KubeClient, pod: V1Pod): Promise<unknown> {
  const m = pod.metadata!;
  return client.request('DELETE', `/api/v1/namespaces/${m.namespace}/pods/${m.name}`, {
    body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: m.uid } },
  });
}

export class PodWorker {
  pod: V1Pod;
  readonly #ctx: NodeContext;
  readonly #dir: string;
  readonly #facts: PodFacts;
  #net: PodNet | undefined;
  #runners: ContainerRunner[] = [];
  #volumes = new Map<string, VolumeSource>();
  #state: 'starting' | 'running' | 'terminating' | 'gone' = 'starting';
  #lastStatus: V1PodStatus | undefined;
  #lastKey = '';
  #reportTimer: NodeJS.Timeout | undefined;
  #reporting: Promise<void> = Promise.resolve();
  #tearingDown: Promise<void> | undefined;

  constructor(pod: V1Pod, ctx: NodeContext) {
    this.pod = pod;
    this.#ctx = ctx;
    const m = pod.metadata!;
    this.#dir = join(ctx.stateDir, 'pods', `${m.namespace}_${m.name}_${m.uid}`);
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.lastTransitionTime;
    this.#facts = {
      hostIP: ctx.gateway,
      startTime: new Date(),
      scheduledTime: scheduled ? new Date(scheduled) : new Date(),
    };
  }

  get key(): string {
    return `${this.pod.metadata!.namespace}/${this.pod.metadata!.name}`;
  }

  get podIP(): string | undefined {
    return this.#facts.podIP;
  }

  logFile(container: string): string {
    return join(this.#dir, 'logs', `${container}.log`);
  }

  async start(): Promise<void> {
    mkdirSync(join(this.#dir, 'logs'), { recursive: true, mode: 0o700 });
    const spec = this.pod.spec!;
    try {
      const ip = this.#ctx.pool.allocate();
      this.#net = this.#ctx.allocateNet(ip);
      await createPodNetwork(this.#net, this.#ctx.bridge, this.#ctx.gateway);
      this.#facts.podIP = ip;
    } catch (err) {
      this.#facts.failure = { reason: 'NetworkSetupFailed', message: (err as Error).message };
      this.#ctx.log.error('pod network setup failed', { pod: this.key, error: (err as Error).message });
      this.#report();
      return;
    }
    const host: ContainerHost = {
      netns: this.#net.netns,
      podIP: this.#net.ip,
      restartPolicy: (spec.restartPolicy ?? 'Always') as ContainerHost['restartPolicy'],
      logFile: (c) => this.logFile(c),
      prepare: (c) => this.#prepare(c),
      changed: () => this.#report(),
    };
    const inits = (spec.initContainers ?? []).map(
      (c) => new ContainerRunner(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init', host),
    );
    const mains = spec.containers.map((c) => new ContainerRunner(c, 'main', host));
    this.#runners = [...inits, ...mains];
    this.#report();
    for (const r of inits) {
      r.start();
      if (r.view.role === 'sidecar') await r.untilStarted();
      else await r.untilFinal();
      if (this.#state !== 'starting') return;
      if (
        r.view.final &&
        r.view.role === 'init' &&
        r.view.state.kind === 'terminated' &&
        r.view.state.exitCode !== 0
      )
        return; // restartPolicy Never: the Pod failed
      if (r.view.final && r.view.role === 'sidecar') return;
    }
    this.#state = 'running';
    for (const r of mains) r.start();
  }

  async #ensureVolumes(): Promise<void> {
    for (const v of this.pod.spec?.volumes ?? []) {
      if (this.#volumes.has(v.name)) continue;
      this.#volumes.set(
        v.name,
        await prepareVolume(this.pod, v, {
          podDir: this.#dir,
          podIP: this.#facts.podIP ?? '',
          hostIP: this.#ctx.gateway,
          lookups: this.#ctx.lookups,
          serviceAccountToken: this.#ctx.serviceAccountToken,
        }),
      );
    }
  }

  async #prepare(c: V1Container): Promise<{ script: string; env: Record<string, string> }> {
    await this.#ensureVolumes();
    const env = await resolveEnv(this.pod, c, this.#facts.podIP ?? '', this.#ctx.gateway, this.#ctx.lookups);
    // $(VAR) in command and args is expanded from the container's environment, as the kubelet does
    const expanded = {
      ...c,
      command: c.command?.map((a) => expand(a, env)),
      args: c.args?.map((a) => expand(a, env)),
    };
    const argv = containerArgv(expanded, this.#ctx.imageRules, this.#ctx.nodePath);
    if (!argv.ok) throw new ImageNotMapped(argv.message);
    const mounts: Mount[] = (c.volumeMounts ?? []).map((m) => {
      const v = this.#volumes.get(m.name);
      if (!v) throw new ContainerConfigError(`volumeMount ${m.name} names no volume`);
      return {
        source: m.subPath ? join(v.path, m.subPath) : v.path,
        target: m.mountPath,
        readOnly: !!m.readOnly,
      };
    });
    const psc = this.pod.spec?.securityContext;
    const csc = c.securityContext;
    const groups = [...(psc?.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc?.supplementalGroups ?? [])];
    const script = launchScript({
      image: { source: REPO_ROOT, target: IMAGE_ROOT },
      mounts,
      workingDir: c.workingDir ?? '/',
      uid: csc?.runAsUser ?? psc?.runAsUser,
      gid: csc?.runAsGroup ?? psc?.runAsGroup,
      groups,
      argv: argv.argv,
    });
    return {
      script,
      env: { PATH, HOSTNAME: this.pod.metadata!.name!, HOME: '/', ...env },
    };
  }

  /** A newer version of the Pod object from the watch. */
  update(pod: V1Pod): void {
    this.pod = pod;
    for (const v of this.#volumes.values()) v.refresh?.(pod);
    if (pod.metadata?.deletionTimestamp && (this.#state === 'starting' || this.#state === 'running')) {
      void this.terminate();
    }
  }

  /** Graceful deletion: stop the containers within the grace period, clean up, remove the Pod object. */
  async terminate(): Promise<void> {
    if (this.#tearingDown) return;
    const graceS =
      this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    await this.#teardown(graceS * 1000);
    await removePodObject(this.#ctx.client, this.pod).catch((err) => {
      if (!isNotFound(err) && (err as { status?: number }).status !== 409)
        this.#ctx.log.warn('final pod delete failed', { pod: this.key, error: (err as Error).message });
    });
  }

  /** Stops everything without touching the Pod object (it is gone, or the agent stops). */
  async destroy(graceMs: number): Promise<void> {
    await this.#teardown(graceMs);
  }

  #teardown(graceMs: number): Promise<void> {
    this.#tearingDown ??= this.#doTeardown(graceMs);
    return this.#tearingDown;
  }

  async #doTeardown(graceMs: number): Promise<void> {
    this.#state = 'terminating';
    const mains = this.#runners.filter((r) => r.view.role === 'main');
    const inits = this.#runners.filter((r) => r.view.role !== 'main').reverse();
    await Promise.all(mains.map((r) => r.stop(graceMs)));
    for (const r of inits) await r.stop(graceMs);
    clearTimeout(this.#reportTimer);
    await this.#reporting;
    this.#state = 'gone';
    if (this.#net) {
      await deletePodNetwork(this.#net);
      this.#ctx.releaseNet(this.#net);
      this.#ctx.pool.release(this.#net.ip);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #report(): void {
    if (this.#state === 'gone' || this.#reportTimer) return;
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = undefined;
      this.#reporting = this.#reporting.then(() => this.#send());
    }, 50);
  }

  async #send(): Promise<void> {
    if (this.#state === 'gone') return;
    const status = keepTransitionTimes(
      podStatus(
        this.#runners.map((r) => r.view),
        this.#facts,
        new Date(),
      ),
      this.#lastStatus,
    );
    const key = statusKey(status);
    if (key === this.#lastKey) return;
    const m = this.pod.metadata!;
    try {
      await this.#ctx.client.request('PATCH', `/api/v1/namespaces/${m.namespace}/pods/${m.name}/status`, {
        body: { status },
        contentType: 'application/merge-patch+json',
      });
      this.#lastStatus = status;
      this.#lastKey = key;
    } catch (err) {
      if (isNotFound(err)) return;
      this.#ctx.log.warn('pod status update failed; retrying', {
        pod: this.key,
        error: (err as Error).message,
      });
      setTimeout(() => this.#report(), 1000).unref();
    }
  }
}
