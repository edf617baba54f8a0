// Which local program an image stands for. The e2e node agent runs no container runtime: our own
// images map to our own entry points, run by this repository's Node 24. Pure.
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
/** Where a container sees REPO_ROOT (bind-mounted there first, so no volume can hide it). */
export const IMAGE_ROOT = '/run/lattice-e2e-image';

export interface ImageRule {
  /** matches the image's repository (the reference without tag or digest) */
  repository: RegExp;
  /** the image's ENTRYPOINT; 'node' means this process's Node 24 */
  entrypoint: string[];
  what: string;
}

export const DEFAULT_IMAGE_RULES: ImageRule[] = [
  {
    // ghcr.io/lattice-sandbox/datapath:0.1.0 (the CRD default), lattice/datapath:dev, ...
    repository: /(^|\/)lattice(-sandbox)?\/datapath$/,
    entrypoint: ['node', join(REPO_ROOT, 'datapath', 'cli', 'main.ts')],
    what: 'the datapath CLI (datapath/cli/main.ts)',
  },
  {
    // the demo agent `make demo` runs in the samples' agent container (e2e/demo/agent.ts)
    repository: /(^|\/)lattice(-sandbox)?\/demo-agent$/,
    entrypoint: ['node', join(REPO_ROOT, 'e2e', 'demo', 'agent.ts')],
    what: 'the demo agent (e2e/demo/agent.ts)',
  },
  {
    // a plain Node image: the container's command says what to run (`node server.js`, `node -e ...`)
    repository: /(^|\/)(lattice(-sandbox)?\/)?node$/,
    entrypoint: ['node'],
    what: 'Node 24',
  },
];

/** "ghcr.io/a/b:1.0@sha256:..." → "ghcr.io/a/b" */
export function repositoryOf(image: string): string {
  const noDigest = image.split('@')[0];
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.indexOf(':', lastSlash + 1);
  return colon >= 0 ? noDigest.slice(0, colon) : noDigest;
}

export type Resolved =
  | { ok: true; argv: string[] }
  | { ok: false; reason: 'ImageNotMapped'; message: string };

/** The argv of a container, as a container runtime would build it from ENTRYPOINT, command and args. */
export function containerArgv(
  c: { image?: string; command?: string[]; args?: string[] },
  rules: ImageRule[],
  nodePath: string,
): Resolved {
  const image = c.image ?? '';
  const rule = rules.find((r) => r.repository.test(repositoryOf(image)));
  if (!rule) {
    return {
      ok: false,
      reason: 'ImageNotMapped',
      message: `the e2e node agent runs only mapped images; ${JSON.stringify(image)} matches none of: ${rules.map((r) => `${r.repository.source} (${r.what})`).join(', ')}`,
    };
  }
  const argv =
    c.command && c.command.length > 0
      ? [...c.command, ...(c.args ?? [])]
      : [...rule.entrypoint, ...(c.args ?? [])];
  if (argv[0] === 'node') argv[0] = nodePath;
  return { ok: true, argv };
}
