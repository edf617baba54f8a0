// The informer's cache and the pure parts of keeping it true: object keys and the diff
// between what the cache holds and a fresh list (a relist after 410 Gone or a dropped watch
// must report deletions that happened while the watch was down). No I/O.
import type { KubeObject } from './kube.ts';

export const keyOf = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : `${o.metadata.name}`;

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export type RelistDiff = {
  added: KubeObject[];
  updated: { old: KubeObject; cur: KubeObject }[];
  deleted: KubeObject[];
};

/** What changed between the cache and a complete list. Unchanged resourceVersions are not updates. */
export function diffRelist(cache: ReadonlyMap<string, KubeObject>, items: KubeObject[]): RelistDiff {
  const diff: RelistDiff = { added: [], updated: [], deleted: [] };
  const seen = new Set<string>();
  for (const cur of items) {
    const k = keyOf(cur);
    seen.add(k);
    const old = cache.get(k);
    if (!old) diff.added.push(cur);
    else if (old.metadata.resourceVersion !== cur.metadata.resourceVersion) diff.updated.push({ old, cur });
  }
  for (const [k, old] of cache) if (!seen.has(k)) diff.deleted.push(old);
  return diff;
}
