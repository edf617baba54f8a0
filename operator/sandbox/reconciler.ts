// The LatticeSandbox reconciler: level-triggered, idempotent, one pass =
//   1. Pod: absent → issue a fresh enrollment token (the old credential died with the old
//      Pod's emptyDir; one token per Pod incarnation) and create the Pod; shape changed
//      (hash) → delete it, recreate next pass; datapath config changed → patch the annotation the datapath reads (no restart);
//      otherwise write nothing.
//   2. Poll the datapath's /status (bounded concurrency, hard timeout; failure = Unknown).
//   3. Return the status; the runtime writes it only if it changed.
// Deletion: the finalizer revokes the identity at the control plane; GC removes the children.
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../../crds/schema.ts';
import { withDefaults } from '../api/v1alpha1/defaults.ts';
import type { LatticeSandbox, LatticeSandboxStatus } from '../api/v1alpha1/types.gen.ts';
import { apply, FIELD_MANAGER } from '../runtime/apply.ts';
import type { Context, Handler, Kind } from '../runtime/controller.ts';
import { ApiError, isNotFound, PermanentError } from '../runtime/errors.ts';
import { Expectations } from '../runtime/expectations.ts';
import { type KubeObject, PODS, resourcePath, SECRETS } from '../runtime/kube.ts';
import { Semaphore } from '../runtime/semaphore.ts';
import type { IdentityRevoker } from './identity.ts';
import {
  ANNOTATION_CONFIG,
  ANNOTATION_HASH,
  agentNameOf,
  desiredPod,
  LABEL_SANDBOX,
  type PodSettings,
} from './pod.ts';
import { type PollResult, pollStatus } from './report.ts';
import { computeStatus } from './status.ts';
import { newTokenSecret, parseDuration, secretName, TOKEN_ANNOTATION } from './token.ts';

export const FINALIZER = 'lattice.io/revoke-identity';
export const SANDBOX_KIND: Kind = {
  group: GROUP,
  version: VERSION,
  plural: PLURAL,
  namespaced: true,
  apiVersion: `${GROUP}/${VERSION}`,
  kind: KIND,
};
const ANNOTATION_ISSUED = TOKEN_ANNOTATION.issuedAt;
const ANNOTATION_EXPIRES = TOKEN_ANNOTATION.expiresAt;

export type SandboxSettings = PodSettings & {
  revoker: IdentityRevoker;
  pollTimeoutMs?: number;
  pollIntervalMs?: number;
  pollConcurrency?: number;
  workers?: number;
  resyncMs?: number;
  /** Replaceable for tests: how the datapath /status is fetched. */
  poll?: (ip: string, port: number, timeoutMs: number) => Promise<PollResult>;
};

export function sandboxHandler(settings: SandboxSettings): Handler<LatticeSandbox, LatticeSandboxStatus> {
  const sem = new Semaphore(settings.pollConcurrency ?? 16);
  const poll = settings.poll ?? pollStatus;
  const timeoutMs = settings.pollTimeoutMs ?? 2000;
  const intervalMs = settings.pollIntervalMs ?? 15_000;
  // Pods created but not yet seen by the Pod informer: without this a pass that runs before the
  // informer catches up would believe the Pod is missing and issue a second token.
  const expected = new Expectations<true>();
  // Tokens issued for a Pod that has not come to be (admission refused it, or its create failed),
  // until the sandbox cache shows them in status. Such a token was never used: the next attempt
  // reuses it. Status says so too, but not to a pass on a cache that has not seen the status write
  // yet (the pass our own finalizer write queues), nor after that write or the Pod create failed:
  // each would otherwise issue a second token.
  const unused = new Expectations<{ uid: string } & Token>();

  async function issueToken(ctx: Context, s: LatticeSandbox): Promise<Token> {
    const now = Date.now();
    let ttl: number;
    try {
      ttl = parseDuration(s.spec.enrollment?.tokenTTL ?? '1h');
    } catch {
      throw new PermanentError(
        `spec.enrollment.tokenTTL ${JSON.stringify(s.spec.enrollment?.tokenTTL)} is not a duration`,
      );
    }
    const name = s.metadata.name!;
    const { secret: body } = newTokenSecret(
      { name, namespace: s.metadata.namespace!, uid: s.metadata.uid! },
      ttl,
      new Date(now),
    );
    body.metadata!.labels = { ...body.metadata!.labels, 'app.kubernetes.io/managed-by': 'lattice-operator' };
    body.metadata!.ownerReferences = [ownerRef(s)];
    const secret = await apply<V1Secret>(ctx.client, SECRETS, {
      apiVersion: 'v1',
      kind: 'Secret',
      ...body,
    } as KubeObject);
    ctx.log.info('issued enrollment token', { object: secretName(name) });
    const token = {
      issuedAt: secret.metadata?.annotations?.[ANNOTATION_ISSUED],
      expiresAt: secret.metadata?.annotations?.[ANNOTATION_EXPIRES],
    };
    unused.set(ctx.key, { uid: s.metadata.uid!, ...token });
    return token;
  }

  return {
    name: 'latticesandbox',
    kind: SANDBOX_KIND,
    finalizer: FINALIZER,
    workers: settings.workers ?? 16,
    resyncMs: settings.resyncMs,
    owns: [
      {
        ref: PODS,
        labelSelector: LABEL_SANDBOX,
        ownerKey: (pod) => {
          const owner = pod.metadata.ownerReferences?.find((r) => r.kind === KIND && r.controller);
          return owner ? `${pod.metadata.namespace}/${owner.name}` : undefined;
        },
      },
    ],

    async reconcile(raw, ctx) {
      const s = withDefaults(raw);
      const ns = s.metadata.namespace!;
      const name = s.metadata.name!;
      const want = desiredPod(s, settings);
      let pod = ctx.cache('pods').get(`${ns}/${name}`) as V1Pod | undefined;
      const exp = expected.get(ctx.key, () => pod !== undefined);
      if (exp) {
        // Created moments ago; the informer has not delivered it yet. Wait for it (its ADDED event
        // re-runs this), with a timer in case it was deleted before the informer ever saw it.
        return { status: undefined, requeueAfterMs: exp.msLeft + 100 };
      }
      // The token's times are read when it is issued and kept in status: no Secret read per pass.
      let token: Token | undefined = s.status?.enrollment;
      let requeueAfterMs: number | undefined;
      let podRejected: string | undefined;

      if (pod && !isOwnedBy(pod, s)) {
        throw new PermanentError(
          `a Pod named ${name} exists and is not owned by this sandbox; delete or rename it`,
        );
      }
      if (pod?.metadata?.deletionTimestamp) {
        requeueAfterMs = 1000; // wait for it to go, then create the new one
      } else if (
        pod &&
        pod.metadata?.annotations?.[ANNOTATION_HASH] !== want.metadata!.annotations![ANNOTATION_HASH]
      ) {
        await deletePod(ctx, pod);
        void ctx.events.record(
          raw,
          'Normal',
          'PodReplaced',
          `the Pod no longer matches the spec (hash ${want.metadata!.annotations![ANNOTATION_HASH]}); replacing it`,
        );
        pod = undefined;
        requeueAfterMs = 1000;
      } else if (
        pod &&
        pod.metadata?.annotations?.[ANNOTATION_CONFIG] !== want.metadata!.annotations![ANNOTATION_CONFIG]
      ) {
        pod = await ctx.client.request<V1Pod>('PATCH', resourcePath(PODS, ns, name), {
          query: { fieldManager: FIELD_MANAGER },
          body: {
            metadata: {
              annotations: { [ANNOTATION_CONFIG]: want.metadata!.annotations![ANNOTATION_CONFIG] },
            },
          },
          contentType: 'application/merge-patch+json',
        });
        void ctx.events.record(
          raw,
          'Normal',
          'PolicyUpdated',
          'egress policy or forwards changed; the datapath config was updated in place',
        );
      } else if (!pod) {
        // A new Pod has no credential (it lived in the old Pod's emptyDir): it needs a fresh token.
        // After a refused Pod the token issued for it was never used: keep it while it is fresh,
        // so retries (resync, finalizer updates) write nothing new. `unused` knows of it before
        // the status in the cache does.
        const refused =
          s.status?.observedGeneration === s.metadata.generation &&
          s.status?.conditions?.some((x) => x.type === 'PodReady' && x.reason === 'PodRejected');
        const uid = s.metadata.uid;
        const kept =
          unused.get(ctx.key, (t) => t.uid !== uid || t.issuedAt === token?.issuedAt)?.value ??
          (refused ? token : undefined);
        const fresh = Date.parse(kept?.expiresAt ?? '') > Date.now() + 5 * 60_000;
        token = fresh ? kept : await issueToken(ctx, s);
        try {
          pod = await apply<V1Pod>(ctx.client, PODS, want as KubeObject);
          unused.delete(ctx.key); // this Pod incarnation has it now
          expected.set(ctx.key, true);
          void ctx.events.record(raw, 'Normal', 'PodCreated', `created Pod ${name} (${s.spec.mode} mode)`);
        } catch (e) {
          // Admission (Pod Security, quota, policy) said no: that is the sandbox's state, not a
          // crash loop. Report it in status and an Event; resync tries again later.
          if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 422)) throw e;
          podRejected = (e.body as { message?: string } | undefined)?.message ?? e.message;
          void ctx.events.record(raw, 'Warning', 'PodRejected', podRejected);
        }
      }

      let result: PollResult | undefined;
      const ip = pod?.status?.podIP;
      if (pod && ip && !pod.metadata?.deletionTimestamp) {
        result = await sem.run(() => poll(ip, s.spec.datapath?.healthPort ?? 15021, timeoutMs));
        if (!result.ok) ctx.log.debug('datapath unreachable', { reason: result.reason });
      }
      const status = computeStatus({
        sandbox: s,
        pod,
        poll: result,
        token,
        now: new Date(),
        podRejected,
      });
      // Keep polling while the datapath can be asked: its counters and health change on their own.
      // A Pod without an IP needs no timer: the IP arrives as a Pod update, which re-runs this.
      if (ip && requeueAfterMs === undefined) requeueAfterMs = intervalMs;
      return { status, requeueAfterMs };
    },

    async finalize(o) {
      await settings.revoker.revoke({
        namespace: o.metadata.namespace!,
        name: o.metadata.name!,
        uid: o.metadata.uid!,
        agentName: agentNameOf(o),
      });
    },
  };
}

type Token = { issuedAt?: string; expiresAt?: string };

function ownerRef(s: LatticeSandbox) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: KIND,
    name: s.metadata.name!,
    uid: s.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

const isOwnedBy = (pod: V1Pod, s: LatticeSandbox) =>
  pod.metadata?.ownerReferences?.some((r) => r.uid === s.metadata.uid) ?? false;

async function deletePod(ctx: Context, pod: V1Pod): Promise<void> {
  try {
    await ctx.client.request('DELETE', resourcePath(PODS, pod.metadata!.namespace, pod.metadata!.name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: pod.metadata!.uid } },
    });
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
