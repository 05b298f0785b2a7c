/** Shared types: request shapes taken from the generated OpenAPI types, and per-call options. */

import type { paths } from "./generated/schema.js";

/** A response body. The server's OpenAPI document describes requests exactly but not yet response bodies,
 * so results are plain JSON (see README, "Types"). */
export type Json = any;

type Operation<P extends keyof paths, M extends keyof paths[P]> = paths[P][M];

/** The JSON body of `M P`, as the server's pydantic model declares it. */
export type Body<P extends keyof paths, M extends keyof paths[P]> =
  Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

/** The query parameters of `M P`. */
export type Query<P extends keyof paths, M extends keyof paths[P]> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** Options every method takes as its last argument. */
export interface CallOptions {
  /** Sent as `Idempotency-Key` (POST only): the server replays the first answer for 24 h, so the call is
   * also retried on 429/503. `true` makes a fresh random key for this call. */
  idempotencyKey?: string | true;
  /** Aborts the request (and any wait between retries). */
  signal?: AbortSignal;
  /** Extra request headers (e.g. `X-Request-ID`). */
  headers?: Record<string, string>;
}
