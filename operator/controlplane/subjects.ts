// NATS subject names and the permission sets built from them. Pure.
//
// Every sandbox owns the subjects that carry its namespace and name; its credential may publish
// only its own audit and heartbeat subjects and subscribe only to its own netmap subject and its own
// reply inbox. Kubernetes names may contain dots, which NATS treats as token separators, so a dot
// becomes `_` (a character Kubernetes names cannot contain, so the mapping is unambiguous).
import type { Permission } from './nats-jwt.ts';

export const AUDIT_STREAM = 'LATTICE_AUDIT';
export const AUDIT_SUBJECTS = 'lattice.audit.>';

export interface SandboxIdentity {
  namespace: string;
  name: string;
  agentName: string;
}

const K8S_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export function subjectToken(k8sName: string): string {
  if (!K8S_NAME.test(k8sName)) throw new Error(`not a Kubernetes name: ${JSON.stringify(k8sName)}`);
  return k8sName.replaceAll('.', '_');
}

export function netmapSubject(s: Pick<SandboxIdentity, 'namespace' | 'name'>): string {
  return `lattice.netmap.${subjectToken(s.namespace)}.${subjectToken(s.name)}`;
}

export function heartbeatSubject(s: Pick<SandboxIdentity, 'namespace' | 'name'>): string {
  return `lattice.heartbeat.${subjectToken(s.namespace)}.${subjectToken(s.name)}`;
}

export const HEARTBEAT_WILDCARD = 'lattice.heartbeat.*.*';

/** `lattice.audit.<ns>.<sandbox>.<agent>`: the agent name is in the subject so a query can filter by it. */
export function auditSubject(s: SandboxIdentity): string {
  return `lattice.audit.${subjectToken(s.namespace)}.${subjectToken(s.name)}.${subjectToken(s.agentName)}`;
}

/** The stream filter for an audit query by agent (optionally within one namespace). */
export function auditFilter(agentName: string, namespace?: string): string {
  return `lattice.audit.${namespace ? subjectToken(namespace) : '*'}.*.${subjectToken(agentName)}`;
}

export function inboxPrefix(s: Pick<SandboxIdentity, 'namespace' | 'name'>): string {
  return `_INBOX.lattice.${subjectToken(s.namespace)}.${subjectToken(s.name)}`;
}

export function sandboxPermissions(s: SandboxIdentity): { pub: Permission; sub: Permission } {
  return {
    pub: { allow: [auditSubject(s), heartbeatSubject(s)] },
    sub: { allow: [netmapSubject(s), `${inboxPrefix(s)}.>`] },
  };
}
