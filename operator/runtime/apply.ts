// Server-side apply under one fixed field manager, as cert-manager's Apply/ApplyStatus:
// the applied object carries only the fields we own (managedFields, resourceVersion, status
// or spec as appropriate are stripped), force=true because this operator is the only owner
// of those fields by design.
import type { KubeClient, KubeObject, ResourceRef } from './kube.ts';
import { resourcePath } from './kube.ts';

export const FIELD_MANAGER = 'lattice-operator';

/** The object as it should be sent in an apply patch: no server-populated metadata. */
export function forApply(o: KubeObject): KubeObject {
  const {
    managedFields: _m,
    resourceVersion: _rv,
    uid: _u,
    creationTimestamp: _c,
    generation: _g,
    ...metadata
  } = o.metadata;
  return { ...o, metadata };
}

export async function apply<T>(client: KubeClient, ref: ResourceRef, o: KubeObject): Promise<T> {
  const path = resourcePath(ref, o.metadata.namespace, o.metadata.name);
  const { status: _s, ...rest } = forApply(o);
  return stripManaged(
    await client.request<T>('PATCH', path, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: rest,
      contentType: 'application/apply-patch+yaml',
    }),
  );
}

export async function applyStatus<T>(
  client: KubeClient,
  ref: ResourceRef,
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; status: unknown },
): Promise<T> {
  const path = resourcePath(ref, o.metadata.namespace, o.metadata.name, 'status');
  return stripManaged(
    await client.request<T>('PATCH', path, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: {
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
        status: o.status,
      },
      contentType: 'application/apply-patch+yaml',
    }),
  );
}

export function stripManaged<T>(o: T): T {
  const m = (o as KubeObject | undefined)?.metadata;
  if (m) delete m.managedFields;
  return o;
}
