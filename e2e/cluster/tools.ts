// Where the binaries of the local control plane live. Versions come from build-tools.sh (the one
// place they are written down); the same environment overrides apply (K8S_VERSION, LATTICE_CACHE, ...).
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MissingBinaryError } from './errors.ts';

const BUILD_SCRIPT = join(import.meta.dirname, 'build-tools.sh');

export interface Tools {
  /** folder of the built kubectl, kube-apiserver, kube-controller-manager */
  k8sDir: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  etcd: string;
  /** "3.4", "3.6": flags differ between etcd minors */
  etcdMinor: string;
  /** '' when not asked for */
  natsServer: string;
}

/** Default versions as written in build-tools.sh: `K8S_VERSION=${K8S_VERSION:-v1.37.2}`. */
export function parseVersions(script: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of script.matchAll(/^([A-Z0-9]+)_VERSION=\$\{\1_VERSION:-([^}]+)\}$/gm)) out[m[1]] = m[2];
  return out;
}

export function cacheDir(): string {
  return process.env.LATTICE_CACHE ?? join(homedir(), '.cache', 'lattice');
}

function version(name: string): string {
  const fromEnv = process.env[`${name}_VERSION`];
  if (fromEnv) return fromEnv;
  const v = parseVersions(readFileSync(BUILD_SCRIPT, 'utf8'))[name];
  if (!v) throw new Error(`build-tools.sh does not define ${name}_VERSION`);
  return v;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function need(binary: string, path: string, target: string): string {
  if (!executable(path)) {
    throw new MissingBinaryError(
      binary,
      path,
      `run \`make tools\` (or \`bash e2e/cluster/build-tools.sh ${target}\`)`,
    );
  }
  return path;
}

/** etcd: LATTICE_ETCD=debian uses /usr/bin/etcd (3.4), LATTICE_ETCD=built (the default) the one
 *  build-tools.sh builds; see docs/development.md for why. */
function findEtcd(bin: string): { path: string; minor: string } {
  const choice = process.env.LATTICE_ETCD ?? 'built';
  if (choice === 'debian') {
    if (!executable('/usr/bin/etcd')) {
      throw new MissingBinaryError(
        'etcd',
        '/usr/bin/etcd',
        'apt-get install etcd-server (or unset LATTICE_ETCD)',
      );
    }
    return { path: '/usr/bin/etcd', minor: '3.4' };
  }
  if (choice !== 'built')
    throw new Error(`LATTICE_ETCD must be "debian" or "built", not ${JSON.stringify(choice)}`);
  const v = version('ETCD');
  const minor = v.replace(/^v/, '').split('.').slice(0, 2).join('.');
  return { path: need('etcd', join(bin, `etcd-${v}`, 'etcd'), 'etcd'), minor };
}

/** The binaries a cluster needs; a missing one throws MissingBinaryError naming it and how to build it. */
export function findTools(opts: { nats: boolean } = { nats: true }): Tools {
  const bin = join(cacheDir(), 'bin');
  const k8sDir = join(bin, `kubernetes-${version('K8S')}`);
  const etcd = findEtcd(bin);
  return {
    k8sDir,
    kubeApiserver: need('kube-apiserver', join(k8sDir, 'kube-apiserver'), 'k8s'),
    kubeControllerManager: need('kube-controller-manager', join(k8sDir, 'kube-controller-manager'), 'k8s'),
    kubectl: need('kubectl', join(k8sDir, 'kubectl'), 'k8s'),
    etcd: etcd.path,
    etcdMinor: etcd.minor,
    natsServer: opts.nats
      ? need('nats-server', join(bin, `nats-server-${version('NATS')}`, 'nats-server'), 'nats')
      : '',
  };
}
