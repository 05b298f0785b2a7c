/** The base of every method group: the shared transport and the split of a method's options into request
 * fields and per-call options. */

import type { Transport } from "../transport.js";
import type { CallOptions } from "../types.js";

export abstract class Group {
  constructor(protected readonly transport: Transport) {}

  protected get api(): Transport["api"] {
    return this.transport.api;
  }

  /** Separates `{ ...fields, idempotencyKey, signal, headers }` into the fields and the fetch init. */
  protected split<T extends object>(
    options: (T & CallOptions) | undefined,
  ): [T, ReturnType<Transport["init"]>] {
    const { idempotencyKey, signal, headers, ...fields } = (options ?? {}) as T & CallOptions;
    const call: CallOptions = {};
    if (idempotencyKey !== undefined) call.idempotencyKey = idempotencyKey;
    if (signal !== undefined) call.signal = signal;
    if (headers !== undefined) call.headers = headers;
    return [fields as T, this.transport.init(call)];
  }
}
