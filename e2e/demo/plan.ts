// What the demo applies and when it calls the sandboxes ready. Pure (no I/O).
//
// The demo applies config/samples themselves — one copy, so the samples users read are the ones the
// demo proves work — rewriting only what depends on the machine: the agent image (a user's
// `my-ai-agent:latest` → the demo agent the e2e node agent maps to e2e/demo/agent.ts) and the
// gVisor rootfs hostPath (→ the rootfs the demo builds in its state dir).

export const DEMO_AGENT_IMAGE = 'ghcr.io/lattice-sandbox/demo-agent:dev';

type Doc = Record<string, unknown> & {
  kind?: string;
  spec?: {
    agent?: { image?: string };
    gvisor?: { rootfs?: { hostPath?: string } };
  };
};

/** The sample rewritten for this machine; other kinds pass through unchanged. */
export function demoSandbox(doc: Doc, o: { agentImage: string; rootfs: string }): Doc {
  if (doc?.kind !== 'LatticeSandbox' || !doc.spec) return doc;
  const spec = structuredClone(doc.spec);
  if (spec.agent?.image) spec.agent.image = o.agentImage;
  if (spec.gvisor?.rootfs?.hostPath) spec.gvisor.rootfs.hostPath = o.rootfs;
  return { ...doc, spec };
}

/** The part of a LatticeSandbox's status the demo waits on. */
export interface SandboxView {
  name: string;
  mode?: string;
  /** spec.forwards exist: the sandbox serves its peer, so its agent is expected to fetch one */
  hasPeer: boolean;
  status?: {
    phase?: string;
    overlayIP?: string;
    peers?: { connected?: number; total?: number };
    egress?: { denied?: number; allowed?: number };
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export function viewOf(o: {
  metadata?: { name?: string };
  spec?: { mode?: string; forwards?: unknown[] };
  status?: SandboxView['status'];
}): SandboxView {
  return {
    name: o.metadata?.name ?? '?',
    mode: o.spec?.mode,
    hasPeer: (o.spec?.forwards?.length ?? 0) > 0,
    status: o.status,
  };
}

/**
 * What the sandbox still lacks for the demo, each as a sentence; empty when it shows everything:
 * Ready, an overlay IP, a connected peer, and (for sandboxes whose agent is the demo agent's
 * peer pair) a denied connection and an allowed one (the peer fetch).
 */
export function missing(s: SandboxView): string[] {
  const out: string[] = [];
  const st = s.status ?? {};
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    const failing = (st.conditions ?? [])
      .filter((c) => c.status !== 'True')
      .map((c) => `${c.type}=${c.status} (${c.reason ?? '?'}: ${c.message ?? ''})`);
    out.push(`not Ready; phase ${st.phase ?? 'none'}; ${failing.join('; ') || 'no conditions yet'}`);
  }
  if (!st.overlayIP) out.push('no overlay IP');
  if (!((st.peers?.connected ?? 0) > 0))
    out.push(`no connected peer (${st.peers?.connected ?? 0} of ${st.peers?.total ?? 0})`);
  if (!((st.egress?.denied ?? 0) > 0)) out.push('no denied connection yet');
  if (s.hasPeer && !((st.egress?.allowed ?? 0) > 0))
    out.push('no allowed connection yet (the peer fetch over the overlay)');
  return out;
}
