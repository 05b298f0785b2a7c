/** Typed errors: one class per HTTP failure the API documents, each carrying the server's error body. */

/** The JSON error body every failing route returns (components.schemas.ErrorResponse). */
export interface ErrorBody {
  detail?: unknown;
  error?: string;
  message?: string;
  request_id?: string;
  retry_after_seconds?: number | null;
}

/** Any non-2xx answer from MoltGrid. */
export class MoltGridError extends Error {
  /** HTTP status (0 when no answer arrived). */
  readonly status: number;
  /** The body's `detail`: a message, or FastAPI-style validation errors on 422. */
  readonly detail: unknown;
  /** Stable error code, e.g. `not_found`, `rate_limited`, `validation_error`. */
  readonly code: string | undefined;
  /** The request's id (`X-Request-ID`), for the server's logs. */
  readonly requestId: string | undefined;
  /** Seconds to wait before retrying (429 and 503), else null. */
  readonly retryAfterSeconds: number | null;
  /** The whole error body. */
  readonly body: unknown;

  constructor(status: number, body: unknown, headers?: Headers) {
    const b = errorBody(body);
    const message = b.message ?? (typeof b.detail === "string" ? b.detail : undefined) ?? `HTTP ${status}`;
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.detail = b.detail ?? body;
    this.code = b.error;
    this.requestId = b.request_id ?? headers?.get("X-Request-ID") ?? undefined;
    this.retryAfterSeconds = b.retry_after_seconds ?? retryAfter(headers) ?? null;
    this.body = body;
  }
}

export class BadRequestError extends MoltGridError {}
export class AuthenticationError extends MoltGridError {}
export class ForbiddenError extends MoltGridError {}
export class NotFoundError extends MoltGridError {}
export class ConflictError extends MoltGridError {}
export class PayloadTooLargeError extends MoltGridError {}
export class ValidationError extends MoltGridError {}
export class RateLimitError extends MoltGridError {}
export class ServerError extends MoltGridError {}
export class UnavailableError extends MoltGridError {}
export class TimeoutError extends MoltGridError {}

const BY_STATUS: Record<number, typeof MoltGridError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  422: ValidationError,
  429: RateLimitError,
  503: UnavailableError,
  504: TimeoutError,
};

/** The A2A HTTP+JSON binding's error body (google.rpc.Status: `{error: {code, status, message, details}}`). */
interface A2AErrorBody {
  error: { message?: string; status?: string; details?: Array<{ reason?: string }> };
}

/** The REST body as it is; an A2A error as the same fields (`code` is its reason, e.g. TASK_NOT_FOUND). */
function errorBody(body: unknown): ErrorBody {
  if (typeof body !== "object" || body === null) return {};
  const a2a = (body as Partial<A2AErrorBody>).error;
  if (typeof a2a !== "object" || a2a === null) return body as ErrorBody;
  const reason = a2a.details?.find((d) => d?.reason)?.reason ?? a2a.status;
  return { detail: a2a.message, ...(a2a.message ? { message: a2a.message } : {}), ...(reason ? { error: reason } : {}) };
}

/** The error class for a status, constructed from its parsed body. */
export function errorFor(status: number, body: unknown, headers?: Headers): MoltGridError {
  const Class = BY_STATUS[status] ?? (status >= 500 ? ServerError : MoltGridError);
  return new Class(status, body, headers);
}

/** Reads an error response (JSON or not) into its typed error. */
export async function errorFromResponse(response: Response): Promise<MoltGridError> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (a proxy's page): keep the text
  }
  return errorFor(response.status, body, response.headers);
}

/** `Retry-After` in seconds (delta form; an HTTP date is converted), or undefined. */
export function retryAfter(headers?: Headers): number | undefined {
  const value = headers?.get("Retry-After");
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
