// One control plane for a test file: a sandbox namespace, a claims namespace, an operator-mode
// nats-server with fresh trust, and a ControlPlane on a free port bound only by the manifest's RBAC.
// Shared by the enrollment, datapath-enrollment and renewal e2e tests.
import { ControlPlane, type ControlPlaneOptions } from '../control-plane.ts';
import { generateTrustSeeds, loadTrust } from '../nats-trust.ts';
import { controlPlaneKubeConfig, deleteNamespace, type Env, env, namespace } from './fixtures.ts';
import { type OperatorNats, startOperatorNats } from './operator-nats.ts';

export interface TestControlPlane {
  e: Env;
  /** where the test's sandboxes live */
  ns: string;
  /** the control plane's own namespace (claims, revocations) */
  cpNs: string;
  nats: OperatorNats;
  cp: ControlPlane;
  /** Stops the control plane and NATS, deletes both namespaces; never throws. */
  stop(): Promise<void>;
}

/** The options a test may choose; the wiring to the cluster and NATS is the fixture's. */
export type TestControlPlaneOptions = Omit<
  ControlPlaneOptions,
  'kubeConfig' | 'namespace' | 'natsURL' | 'trustSeeds'
>;

/**
 * Starts it all; namespaces are `<prefix>-…` and `<prefix>-sys-…`. Anything started before a
 * failure is stopped again before the error is rethrown.
 */
export async function startTestControlPlane(
  prefix: string,
  options: TestControlPlaneOptions = {},
): Promise<TestControlPlane> {
  const e = await env();
  const seeds = generateTrustSeeds();
  const namespaces: string[] = [];
  let nats: OperatorNats | undefined;
  let cp: ControlPlane | undefined;
  const stop = async () => {
    await cp?.stop().catch(() => {});
    await nats?.destroy().catch(() => {});
    await Promise.all(namespaces.map((n) => deleteNamespace(e, n)));
  };
  try {
    const ns = await namespace(e, prefix);
    namespaces.push(ns);
    const cpNs = await namespace(e, `${prefix}-sys`);
    namespaces.push(cpNs);
    nats = await startOperatorNats(loadTrust(seeds));
    cp = new ControlPlane({
      port: 0,
      ...options,
      kubeConfig: (await controlPlaneKubeConfig(e, cpNs)).kc,
      namespace: cpNs,
      natsURL: nats.url,
      trustSeeds: seeds,
    });
    await cp.start();
    return { e, ns, cpNs, nats, cp, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
