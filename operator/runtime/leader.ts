// Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection:
// candidates race to write themselves into one Lease with optimistic concurrency
// (resourceVersion); the holder renews every retryMs; a candidate takes over when the record
// has not changed for leaseMs *by its own clock* (it never compares clocks across machines);
// a leader that cannot renew within renewDeadlineMs steps down (onStoppedLeading — the
// operator exits so a fresh process rejoins as a candidate, like controller-runtime).
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from './errors.ts';
import { sleep } from './informer.ts';
import { type KubeClient, LEASES, resourcePath } from './kube.ts';
import type { Logger } from './log.ts';

export type LeaseSpec = {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
};
type Lease = { metadata: { name: string; namespace: string; resourceVersion?: string }; spec?: LeaseSpec };

export type Decision = 'renew' | 'acquire' | 'wait';

/** Pure: what a candidate should do given the Lease it read and when it saw that record change. */
export function decide(
  spec: LeaseSpec | undefined,
  me: string,
  observedAtMs: number,
  nowMs: number,
  leaseMs: number,
): Decision {
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === me) return 'renew';
  return nowMs - observedAtMs >= leaseMs ? 'acquire' : 'wait';
}

export type LeaderOptions = {
  namespace: string;
  name: string;
  identity: string;
  leaseMs?: number;
  renewDeadlineMs?: number;
  retryMs?: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
};

const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #o: Required<Omit<LeaderOptions, 'log' | 'onStartedLeading' | 'onStoppedLeading'>> & LeaderOptions;
  readonly #abort = new AbortController();
  #leading = false;
  #observed: { key: string; at: number } = { key: '', at: 0 };

  constructor(client: KubeClient, o: LeaderOptions) {
    this.#client = client;
    this.#o = {
      ...o,
      leaseMs: o.leaseMs ?? 15_000,
      renewDeadlineMs: o.renewDeadlineMs ?? 10_000,
      retryMs: o.retryMs ?? 2_000,
    };
    if (!(this.#o.renewDeadlineMs < this.#o.leaseMs && this.#o.retryMs < this.#o.renewDeadlineMs)) {
      throw new Error('leader election needs retry < renew deadline < lease duration');
    }
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Runs until stop(): campaigns, leads, and calls onStoppedLeading if leadership is lost. */
  async run(): Promise<void> {
    const { log, retryMs, renewDeadlineMs } = this.#o;
    let lastRenew = 0;
    while (!this.#abort.signal.aborted) {
      let ok = false;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (e) {
        log.warn('leader election: lease request failed', { error: errorMessage(e) });
      }
      const now = Date.now();
      if (ok) {
        lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          log.info('leader election: became leader', { lease: this.#o.name, identity: this.#o.identity });
          this.#o.onStartedLeading();
        }
      } else if (this.#leading && now - lastRenew > renewDeadlineMs) {
        this.#leading = false;
        log.error('leader election: lost the lease', { lease: this.#o.name });
        this.#o.onStoppedLeading();
        return;
      }
      await sleep(retryMs, this.#abort.signal);
    }
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#abort.abort();
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        lease.spec = {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        };
        await this.#client.request('PUT', this.#path(), { body: lease });
      }
    } catch (e) {
      this.#o.log.warn('leader election: could not release the lease', { error: errorMessage(e) });
    }
  }

  #path(name?: string): string {
    return resourcePath(LEASES, this.#o.namespace, name);
  }

  async #get(): Promise<Lease | undefined> {
    try {
      return await this.#client.request<Lease>('GET', this.#path(this.#o.name), {
        timeoutMs: this.#o.retryMs * 2,
      });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, name, namespace, leaseMs } = this.#o;
    const now = Date.now();
    const lease = await this.#get();
    const fresh: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      try {
        await this.#client.request('POST', this.#path(), {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: fresh,
          },
        });
        return true;
      } catch (e) {
        if (isAlreadyExists(e) || isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const recordKey = `${spec.holderIdentity}/${spec.renewTime}`;
    if (recordKey !== this.#observed.key) this.#observed = { key: recordKey, at: now };
    const leaseFor = (spec.leaseDurationSeconds ?? 0) * 1000 || leaseMs;
    const d = decide(spec, identity, this.#observed.at, now, leaseFor);
    if (d === 'wait') return false;
    const next: LeaseSpec =
      d === 'renew'
        ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: Math.ceil(leaseMs / 1000) }
        : { ...fresh, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      await this.#client.request('PUT', this.#path(name), {
        body: { ...lease, spec: next },
        timeoutMs: this.#o.retryMs * 2,
      });
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }
}
