// Kubernetes Events (events.k8s.io/v1) about an object, so `kubectl describe` shows what the
// operator did and why it failed. Repeats of the same reason+note within a window are
// dropped instead of written, so a retry loop cannot flood the apiserver. Best effort: an
// Event that cannot be written is logged, never thrown.
import { randomBytes } from 'node:crypto';
import { errorMessage } from './errors.ts';
import { EVENTS, type KubeClient, type KubeObject, resourcePath } from './kube.ts';
import type { Logger } from './log.ts';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #controller: string;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #recent = new Map<string, number>();
  readonly #windowMs: number;

  constructor(client: KubeClient, controller: string, instance: string, log: Logger, windowMs = 5 * 60_000) {
    this.#client = client;
    this.#controller = controller;
    this.#instance = instance;
    this.#log = log;
    this.#windowMs = windowMs;
  }

  async record(
    o: KubeObject,
    type: EventType,
    reason: string,
    note: string,
    action = 'Reconcile',
  ): Promise<void> {
    const key = `${o.metadata.uid}/${type}/${reason}/${note}`;
    const now = Date.now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < this.#windowMs) return;
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) this.#recent.clear();
    const ns = o.metadata.namespace ?? 'default';
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${o.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      eventTime: new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
      reportingController: this.#controller,
      reportingInstance: this.#instance,
      action,
      reason,
      note: note.slice(0, 1024),
      type,
      regarding: {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        namespace: ns,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
      },
    };
    try {
      await this.#client.request('POST', resourcePath(EVENTS, ns), { body: event });
    } catch (e) {
      this.#log.warn('could not record event', { reason, error: errorMessage(e) });
    }
  }
}
