// One error type for every failed API call: the server's stable `code` and
// its human `message` (errors are always {"error":{"code","message"}}).
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

/** Builds an ApiError from whatever a failed response carried. */
export function toApiError(status: number, body: unknown, statusText = ''): ApiError {
  if (body && typeof body === 'object' && 'error' in body) {
    const e = (body as { error: unknown }).error;
    if (e && typeof e === 'object') {
      const { code, message } = e as { code?: unknown; message?: unknown };
      if (typeof message === 'string' && message) {
        return new ApiError(status, typeof code === 'string' ? code : 'unknown', message);
      }
    }
  }
  // Not the server's JSON (a proxy page, a network layer): say what we know.
  const text = typeof body === 'string' && body.length < 200 && !body.includes('<') ? body : '';
  return new ApiError(status, 'http_' + status, text || `HTTP ${status}${statusText ? ' ' + statusText : ''}`);
}

/** A message for any thrown value (network failures are TypeErrors). */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
