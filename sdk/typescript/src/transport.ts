/** The HTTP layer under every method: the typed openapi-fetch client over a fetch that authenticates, retries
 * idempotent calls on 429/503 (honouring Retry-After) and turns failures into typed errors. */

import createClient, { type Client } from "openapi-fetch";
import { errorFor, retryAfter } from "./errors.js";
import type { paths } from "./generated/schema.js";
import type { CallOptions, Json } from "./types.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8000";
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRY_STATUSES = new Set([429, 503]);

/** How failed idempotent calls are retried. */
export interface RetryOptions {
  /** Retries after the first attempt (default 3; 0 turns retrying off). */
  retries?: number;
  /** First backoff when the server gives no Retry-After, doubled per attempt (default 250 ms). */
  baseDelayMs?: number;
  /** Longest single wait; a Retry-After beyond it is not waited for, the error is thrown (default 30 s). */
  maxDelayMs?: number;
}

export interface TransportOptions {
  baseUrl?: string;
  apiKey?: string;
  retry?: RetryOptions;
  /** A fetch implementation (default globalThis.fetch: Node >= 18, browsers). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** One configured connection to a MoltGrid server; every method group shares it. */
export class Transport {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  /** The generated, fully typed client (openapi-fetch): an escape hatch for any route by its path. */
  readonly api: Client<paths>;
  /** Headers sent with every request (X-API-Key included). */
  readonly headers: Record<string, string>;
  /** fetch with retries, for the routes outside the OpenAPI document (SSE, admin login). */
  readonly fetch: (request: Request) => Promise<Response>;

  constructor(options: TransportOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    const base = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.fetch = retrying(base, options.retry ?? {});
    this.headers = { ...(options.apiKey ? { "X-API-Key": options.apiKey } : {}), ...options.headers };
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: this.fetch, headers: this.headers });
  }

  /** The fetch init of one call: its headers (Idempotency-Key included) and signal. */
  init(options: CallOptions = {}): { headers: Record<string, string>; signal?: AbortSignal } {
    const headers = { ...options.headers };
    if (options.idempotencyKey) {
      headers["Idempotency-Key"] = options.idempotencyKey === true ? randomKey() : options.idempotencyKey;
    }
    return options.signal ? { headers, signal: options.signal } : { headers };
  }
}

/** Resolves an openapi-fetch result to its data, or throws its typed error. */
export async function unwrap(
  pending: Promise<{ data?: unknown; error?: unknown; response: Response }>,
): Promise<Json> {
  const { data, error, response } = await pending;
  if (!response.ok) throw errorFor(response.status, error, response.headers);
  return data;
}

/** Wraps fetch: calls that are safe to repeat (idempotent methods, or carrying an Idempotency-Key) are retried
 * on 429 and 503, after Retry-After when the server sends one, else after an exponential backoff with jitter.
 * A 429 without Retry-After is a quota that waiting does not restore: it is not retried. */
export function retrying(
  base: typeof globalThis.fetch,
  options: RetryOptions,
): (request: Request) => Promise<Response> {
  const retries = options.retries ?? 3;
  const baseDelay = options.baseDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 30_000;
  return async (request) => {
    const repeatable = IDEMPOTENT_METHODS.has(request.method) || request.headers.has("Idempotency-Key");
    for (let attempt = 0; ; attempt++) {
      const last = !repeatable || attempt >= retries;
      const response = await base(last ? request : request.clone());
      if (last || !RETRY_STATUSES.has(response.status)) return response;
      const after = retryAfter(response.headers);
      if (after === undefined && response.status === 429) return response;
      const wait =
        after !== undefined ? after * 1000 : Math.min(maxDelay, baseDelay * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (wait > maxDelay) return response;
      await response.body?.cancel();
      await sleep(wait, request.signal);
    }
  };
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** A random idempotency key (crypto.randomUUID where the platform has it). */
export function randomKey(): string {
  const uuid = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto?.randomUUID?.();
  return uuid ?? `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}
