// `GET /api/v1/audit/flow` parameters and its paging cursor. Pure.
// The cursor is opaque to clients: the next stream sequence to read, bound to the query it came
// from (a digest of agent, namespace and time range), so a cursor cannot be replayed against a
// different query.
import { createHash } from 'node:crypto';
import { DNS_LABEL } from './enroll-request.ts';
import { badRequest } from './errors.ts';

export interface AuditQuery {
  agentName: string;
  namespace?: string;
  from: number; // ms since epoch, inclusive
  to: number; // ms since epoch, inclusive
  limit: number;
  /** Next stream sequence to read (1 = from the start of the time range). */
  startSeq?: number;
  /** whether `to` was given (an open range ends "now" on every page) */
  openEnded?: boolean;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

function parseTime(name: string, v: string | null, fallback: number): number {
  if (v === null || v === '') return fallback;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw badRequest(`invalid_${name}`, `${name} must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z`);
  }
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw badRequest(`invalid_${name}`, `${name} is not a valid time`);
  return t;
}

function digest(q: AuditQuery): string {
  // An open range (no `to`) ends "now" on every page, so it is bound as "open", not by its value.
  const to = q.openEnded ? 'open' : String(q.to);
  return createHash('sha256')
    .update(`${q.agentName}\n${q.namespace ?? ''}\n${q.from}\n${to}`)
    .digest('hex')
    .slice(0, 16);
}

export function encodeCursor(q: AuditQuery, nextSeq: number): string {
  return Buffer.from(JSON.stringify({ v: 1, s: nextSeq, q: digest(q) }), 'utf8').toString('base64url');
}

export function parseAuditQuery(params: URLSearchParams, now: number): AuditQuery {
  const agentName = params.get('agentName');
  if (!agentName) throw badRequest('missing_agent_name', 'agentName is required');
  if (!DNS_LABEL.test(agentName))
    throw badRequest('invalid_agent_name', 'agentName must be a DNS-1123 label');
  const namespace = params.get('namespace') || undefined;
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) {
    throw badRequest('invalid_namespace', 'namespace must be a DNS-1123 label');
  }
  const from = parseTime('from', params.get('from'), 0);
  const to = parseTime('to', params.get('to'), now);
  if (from > to) throw badRequest('invalid_range', 'from must not be after to');
  const limitText = params.get('limit');
  let limit = DEFAULT_LIMIT;
  if (limitText !== null && limitText !== '') {
    if (!/^\d{1,5}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT) {
      throw badRequest('invalid_limit', `limit must be an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = Number(limitText);
  }
  const q: AuditQuery = { agentName, namespace, from, to, limit };
  if (!params.get('to')) q.openEnded = true;
  const cursor = params.get('cursor');
  if (cursor) {
    let c: { v?: unknown; s?: unknown; q?: unknown };
    try {
      c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    } catch {
      throw badRequest('invalid_cursor', 'cursor is not one this API returned');
    }
    if (c?.v !== 1 || !Number.isSafeInteger(c.s) || (c.s as number) < 1 || typeof c.q !== 'string') {
      throw badRequest('invalid_cursor', 'cursor is not one this API returned');
    }
    if (c.q !== digest(q))
      throw badRequest('cursor_mismatch', 'cursor belongs to a different query (agent, namespace or range)');
    q.startSeq = c.s as number;
  }
  return q;
}

/** Whether an audit record (its `time` field) falls in the query's range. */
export function inRange(q: AuditQuery, recordTime: unknown): boolean {
  const t = typeof recordTime === 'string' ? Date.parse(recordTime) : Number.NaN;
  return Number.isFinite(t) && t >= q.from && t <= q.to;
}
