// A container's environment, resolved as the kubelet does: envFrom first, then env in order;
// values may reference earlier variables as $(NAME) ($$ escapes); valueFrom reads Secrets,
// ConfigMaps and the Pod's own fields. Lookups are injected, so this file does no I/O.
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface Lookups {
  /** a Secret's decoded data, or undefined if the Secret does not exist */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

/** The value of a downward-API field path (metadata.name, metadata.labels['x'], status.podIP, ...). */
export function fieldValue(pod: V1Pod, fieldPath: string, podIP: string, hostIP: string): string {
  const m = pod.metadata ?? {};
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) return (keyed[1] === 'labels' ? m.labels : m.annotations)?.[keyed[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return m.name ?? '';
    case 'metadata.namespace':
      return m.namespace ?? '';
    case 'metadata.uid':
      return m.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    default:
      throw new ContainerConfigError(`field path ${fieldPath} is not supported by the e2e node agent`);
  }
}

/** $(NAME) → value of NAME if defined so far, else left as is; $$ → $. */
export function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name?: string) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in env ? env[name] : whole;
  });
}

export async function resolveEnv(
  pod: V1Pod,
  c: V1Container,
  podIP: string,
  hostIP: string,
  lookups: Lookups,
): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref?.name) continue;
    const data = from.secretRef ? await lookups.secret(ns, ref.name) : await lookups.configMap(ns, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${from.secretRef ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.fieldRef) {
      env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath, podIP, hostIP);
    } else if (vf.secretKeyRef || vf.configMapKeyRef) {
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const kind = vf.secretKeyRef ? 'secret' : 'configmap';
      const data = vf.secretKeyRef
        ? await lookups.secret(ns, ref.name!)
        : await lookups.configMap(ns, ref.name!);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          data ? `key "${ref.key}" not found in ${kind} "${ref.name}"` : `${kind} "${ref.name}" not found`,
        );
      }
      env[e.name] = value;
    } else {
      throw new ContainerConfigError(
        `env ${e.name}: only fieldRef, secretKeyRef and configMapKeyRef are supported`,
      );
    }
  }
  return env;
}
