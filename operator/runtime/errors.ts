// The error taxonomy the runtime understands (after Kopf): a handler throws
//   TemporaryError  → retry after `delayMs` (or the per-key backoff), reported as a warning Event;
//   PermanentError  → stop retrying this generation, report it, wait for the object to change;
//   anything else   → treated as temporary with exponential backoff (a bug should not spin).
// ApiError carries the apiserver's Status so callers can branch on reason, not on text.

export class TemporaryError extends Error {
  readonly delayMs: number | undefined;
  constructor(message: string, delayMs?: number) {
    super(message);
    this.name = 'TemporaryError';
    this.delayMs = delayMs;
  }
}

export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(method: string, path: string, status: number, reason: string, message: string, body?: unknown) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof ApiError && e.status === 409;
export const isGone = (e: unknown) => e instanceof ApiError && e.status === 410;
export const isAlreadyExists = (e: unknown) => e instanceof ApiError && e.reason === 'AlreadyExists';

export type ErrorClass = 'temporary' | 'permanent' | 'conflict';

/** How the runtime treats an error thrown by a handler or by the apiserver. */
export function classify(e: unknown): ErrorClass {
  if (e instanceof PermanentError) return 'permanent';
  if (isConflict(e)) return 'conflict';
  if (e instanceof ApiError && (e.status === 400 || e.status === 422 || e.status === 403)) return 'permanent';
  return 'temporary';
}

export const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));
