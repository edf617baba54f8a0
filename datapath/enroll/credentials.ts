// The sandbox's identity on disk: $LATTICE_CONFIG_DIR/sandbox-credentials.json (default
// /etc/lattice), mode 0600, written atomically (temp file in the same folder, fsync, rename, fsync
// of the folder) so a crash leaves either the old file or the new one, never half of one.
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const CREDENTIALS_FILE = 'sandbox-credentials.json';

export interface SandboxCredentials {
  v: 1;
  /** the name the datapath enrolled as (--name) and the sandbox it resolved to */
  name: string;
  namespace: string;
  sandbox: string;
  uid: string;
  serverUrl: string;
  overlayIP: string;
  networkCIDR: string;
  wireguard: { privateKey: string; publicKey: string };
  bus: {
    url: string;
    jwt: string;
    seed: string;
    publicKey: string;
    expiresAt: string;
    inboxPrefix: string;
    subjects: { netmap: string; audit: string; heartbeat: string };
    auditStream: string;
  };
  enrolledAt: string;
}

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LATTICE_CONFIG_DIR && env.LATTICE_CONFIG_DIR.length > 0
    ? env.LATTICE_CONFIG_DIR
    : '/etc/lattice';
}

export function credentialsPath(dir = configDir()): string {
  return join(dir, CREDENTIALS_FILE);
}

const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length < 8192;

function validate(v: unknown, path: string): SandboxCredentials {
  const c = v as SandboxCredentials;
  const ok =
    c?.v === 1 &&
    [c.name, c.namespace, c.sandbox, c.uid, c.serverUrl, c.overlayIP, c.networkCIDR, c.enrolledAt].every(
      str,
    ) &&
    str(c.wireguard?.privateKey) &&
    str(c.wireguard?.publicKey) &&
    [c.bus?.url, c.bus?.jwt, c.bus?.seed, c.bus?.publicKey, c.bus?.inboxPrefix, c.bus?.auditStream].every(
      str,
    ) &&
    [c.bus?.subjects?.netmap, c.bus?.subjects?.audit, c.bus?.subjects?.heartbeat].every(str);
  if (!ok)
    throw new CredentialsError(
      `${path} is not a credentials file this datapath wrote (fields missing or wrong)`,
    );
  return c;
}

/** The stored credentials, or null when there are none. A corrupt or exposed file is an error. */
export function readCredentials(path: string): SandboxCredentials | null {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      throw new CredentialsError(
        `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); refusing to use it`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CredentialsError(`${path} is not valid JSON`);
  }
  return validate(parsed, path);
}

export function writeCredentials(path: string, c: SandboxCredentials): void {
  validate(c, path);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(c, null, 2)}\n`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(join(path, '..'), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // some filesystems cannot fsync a directory; the rename is still atomic
  }
}

export function removeCredentials(path: string): void {
  rmSync(path, { force: true });
}
