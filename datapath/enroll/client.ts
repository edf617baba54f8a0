// HTTP client of the control plane for the datapath: enrollment, the netmap poll and credential
// renewal. Errors are classified so the caller knows whether retrying can help.
import { fromSeed } from '@nats-io/nkeys';
import type { EnrollRequest } from '../../operator/controlplane/enroll-request.ts';
import type { EnrollResponse } from '../../operator/controlplane/enrollment.ts';
import { signRequest } from '../../operator/controlplane/request-auth.ts';

export type ControlPlaneErrorKind =
  /** the request can never succeed as is (bad token, unknown sandbox, revoked credential) */
  | 'rejected'
  /** the control plane or the network failed; try again later */
  | 'unavailable';

export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
  readonly kind: ControlPlaneErrorKind;
  readonly status: number;
  readonly code: string;
  constructor(kind: ControlPlaneErrorKind, status: number, code: string, message: string) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

/** What the datapath sends: the control plane's EnrollRequest, always with a bus key of its own. */
export type EnrollRequestBody = EnrollRequest & { busPublicKey: string };

/** The 200 body of POST /api/v1/enroll, as the control plane defines it. */
export type EnrollResult = EnrollResponse;

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new ControlPlaneError(
      'unavailable',
      0,
      'unreachable',
      `control plane unreachable at ${url}: ${(e as Error).message}`,
    );
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.ok) return body;
  const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const kind: ControlPlaneErrorKind = res.status >= 500 || res.status === 429 ? 'unavailable' : 'rejected';
  throw new ControlPlaneError(
    kind,
    res.status,
    err?.code ?? 'http_error',
    `control plane: ${res.status} ${err?.code ?? ''}: ${err?.message ?? res.statusText}`,
  );
}

export function postEnroll(
  serverUrl: string,
  body: EnrollRequestBody,
  timeoutMs = 15_000,
): Promise<EnrollResult> {
  return call(
    new URL('/api/v1/enroll', serverUrl).toString(),
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    timeoutMs,
  ) as Promise<EnrollResult>;
}

function signed(jwt: string, seed: string, method: string, path: string): Record<string, string> {
  return { ...signRequest(jwt, fromSeed(new TextEncoder().encode(seed)), method, path, new Date()) };
}

export function getNetmap(serverUrl: string, jwt: string, seed: string, timeoutMs = 5_000): Promise<unknown> {
  const path = '/api/v1/netmap';
  return call(new URL(path, serverUrl).toString(), { headers: signed(jwt, seed, 'GET', path) }, timeoutMs);
}

export async function renewCredential(
  serverUrl: string,
  jwt: string,
  seed: string,
  timeoutMs = 10_000,
): Promise<{ jwt: string; expiresAt: string }> {
  const path = '/api/v1/credentials/renew';
  const r = (await call(
    new URL(path, serverUrl).toString(),
    { method: 'POST', headers: { ...signed(jwt, seed, 'POST', path), 'content-type': 'application/json' } },
    timeoutMs,
  )) as {
    credential: { jwt: string; expiresAt: string };
  };
  return r.credential;
}
