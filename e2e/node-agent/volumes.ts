// A Pod's volumes as host directories, bind-mounted into each container's mount namespace by
// launch.ts: emptyDir (0777, as the kubelet makes them), hostPath, secret, configMap, downwardAPI
// and projected (secret, configMap, downwardAPI, serviceAccountToken) — written as files.
import { chmodSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import { ContainerConfigError, fieldValue, type Lookups } from './env.ts';

export interface VolumeSource {
  /** the host directory bind-mounted at each mountPath */
  path: string;
  /** rewritten when the Pod changes (downward API) */
  refresh?: (pod: V1Pod) => void;
}

export interface VolumeContext {
  podDir: string;
  podIP: string;
  hostIP: string;
  lookups: Lookups;
  /** a token for the Pod's ServiceAccount from the TokenRequest API */
  serviceAccountToken(
    namespace: string,
    sa: string,
    audience: string | undefined,
    seconds: number,
  ): Promise<string>;
}

type Item = { key: string; path: string; mode?: number };

function writeFileAtomic(path: string, data: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function safeRelative(p: string): string {
  if (p.startsWith('/') || p.split('/').includes('..'))
    throw new ContainerConfigError(`volume item path ${p} is not allowed`);
  return p;
}

function writeData(
  dir: string,
  data: Record<string, string>,
  items: Item[] | undefined,
  defaultMode: number,
): void {
  const chosen: Item[] = items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const it of chosen) {
    if (!(it.key in data)) throw new ContainerConfigError(`key "${it.key}" not found`);
    writeFileAtomic(join(dir, safeRelative(it.path)), data[it.key], it.mode ?? defaultMode);
  }
}

function writeDownward(
  dir: string,
  pod: V1Pod,
  items: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[],
  defaultMode: number,
  ctx: VolumeContext,
): void {
  for (const it of items) {
    if (!it.fieldRef) throw new ContainerConfigError('downwardAPI: only fieldRef items are supported');
    writeFileAtomic(
      join(dir, safeRelative(it.path)),
      fieldValue(pod, it.fieldRef.fieldPath, ctx.podIP, ctx.hostIP),
      it.mode ?? defaultMode,
    );
  }
}

async function keyed(
  kind: 'secret' | 'configMap',
  ns: string,
  name: string,
  optional: boolean | undefined,
  ctx: VolumeContext,
): Promise<Record<string, string> | undefined> {
  const data = kind === 'secret' ? await ctx.lookups.secret(ns, name) : await ctx.lookups.configMap(ns, name);
  if (!data && !optional) throw new ContainerConfigError(`${kind} "${name}" not found`);
  return data;
}

export async function prepareVolume(pod: V1Pod, v: V1Volume, ctx: VolumeContext): Promise<VolumeSource> {
  const ns = pod.metadata?.namespace ?? 'default';
  const dir = join(ctx.podDir, 'volumes', v.name);
  const fresh = () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  };
  if (v.emptyDir) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    return { path: dir };
  }
  if (v.hostPath) {
    const p = v.hostPath.path;
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {}
    if (!isDir && v.hostPath.type === 'DirectoryOrCreate') mkdirSync(p, { recursive: true, mode: 0o755 });
    else if (!isDir && v.hostPath.type === 'Directory')
      throw new ContainerConfigError(`hostPath ${p} is not a directory`);
    return { path: p };
  }
  if (v.secret || v.configMap) {
    fresh();
    const src = (v.secret ?? v.configMap)!;
    const name = v.secret ? v.secret.secretName! : v.configMap!.name!;
    const data = await keyed(v.secret ? 'secret' : 'configMap', ns, name, src.optional, ctx);
    if (data) writeData(dir, data, src.items, src.defaultMode ?? 0o644);
    return { path: dir };
  }
  if (v.downwardAPI) {
    fresh();
    const items = v.downwardAPI.items ?? [];
    const mode = v.downwardAPI.defaultMode ?? 0o644;
    writeDownward(dir, pod, items, mode, ctx);
    return { path: dir, refresh: (p) => writeDownward(dir, p, items, mode, ctx) };
  }
  if (v.projected) {
    fresh();
    const mode = v.projected.defaultMode ?? 0o644;
    const downward: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[] = [];
    for (const s of v.projected.sources ?? []) {
      if (s.secret || s.configMap) {
        const src = (s.secret ?? s.configMap)!;
        const data = await keyed(s.secret ? 'secret' : 'configMap', ns, src.name!, src.optional, ctx);
        if (data) writeData(dir, data, src.items, mode);
      } else if (s.downwardAPI) {
        downward.push(...(s.downwardAPI.items ?? []));
      } else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const token = await ctx.serviceAccountToken(
          ns,
          pod.spec?.serviceAccountName ?? 'default',
          t.audience,
          t.expirationSeconds ?? 3600,
        );
        writeFileAtomic(join(dir, safeRelative(t.path)), token, mode);
      } else {
        throw new ContainerConfigError(
          `projected volume ${v.name}: unsupported source ${Object.keys(s).join(',')}`,
        );
      }
    }
    writeDownward(dir, pod, downward, mode, ctx);
    return { path: dir, refresh: (p) => writeDownward(dir, p, downward, mode, ctx) };
  }
  const kind = Object.keys(v).filter((k) => k !== 'name');
  throw new ContainerConfigError(
    `volume ${v.name}: type ${kind.join(',')} is not supported by the e2e node agent`,
  );
}
