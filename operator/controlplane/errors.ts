// Errors the control-plane API returns. Each carries the HTTP status and a stable machine-readable
// code; the HTTP layer turns them into `{"error": {"code", "message"}}` bodies. Anything that is
// not an ApiError becomes a 500 whose message is not shown to the client.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);
export const unauthorized = (code: string, message: string): ApiError => new ApiError(401, code, message);
export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);
export const notFound = (code: string, message: string): ApiError => new ApiError(404, code, message);
export const conflict = (code: string, message: string): ApiError => new ApiError(409, code, message);
export const gone = (code: string, message: string): ApiError => new ApiError(410, code, message);
export const tooLarge = (message: string): ApiError => new ApiError(413, 'request_too_large', message);
export const unavailable = (code: string, message: string): ApiError => new ApiError(503, code, message);

export function errorBody(err: ApiError): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: err.message } };
}
