/** Server-Sent Events as async iterators: a reader over fetch (so it sends X-API-Key, unlike EventSource) that
 * resumes from the last id after a dropped connection. Used by the event stream (GET /v1/events/stream) and
 * A2A task streams (`/a2a/{agent_id}/tasks/{id}:subscribe`). */

import { errorFromResponse } from "./errors.js";
import { sleep, type Transport } from "./transport.js";
import type { Json } from "./types.js";

/** One event: `id` is its stream sequence (the resume cursor), `type` e.g. "message.received". */
export interface StreamEvent {
  id: string;
  type: string;
  data: Json;
}

export interface StreamOptions {
  /** Start after this event id (a previous StreamEvent.id); default: from the first retained event. */
  after?: string;
  /** Reconnect after a dropped connection (default true). */
  reconnect?: boolean;
  /** First reconnect delay, doubled per failed attempt up to 30 s (default 500 ms). */
  reconnectDelayMs?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export function streamEvents(
  transport: Transport,
  options: StreamOptions = {},
): AsyncGenerator<StreamEvent, void, undefined> {
  return follow(
    transport,
    (cursor) =>
      new Request(`${transport.baseUrl}/v1/events/stream`, {
        headers: { ...transport.headers, Accept: "text/event-stream", "Last-Event-ID": cursor ?? "0" },
      }),
    { ...options, cursor: options.after },
  );
}

/** How one followed stream is opened and when it is over. */
export interface FollowOptions extends Omit<StreamOptions, "after"> {
  /** The id to resume after on the first connection (undefined: the server's start). */
  cursor?: string | undefined;
  /** True for the event after which the server ends the stream for good (no reconnect then). */
  last?: (event: StreamEvent) => boolean;
  /** A connection that ends cleanly without any event means the stream is over (no reconnect then). */
  emptyEnds?: boolean;
}

/** Follows an SSE resource across connections: `request(cursor)` opens one that resumes after `cursor` (the
 * last id seen, sent as Last-Event-ID); a dropped connection is reopened after a backoff. */
export async function* follow(
  transport: Transport,
  request: (cursor: string | undefined) => Request,
  options: FollowOptions = {},
): AsyncGenerator<StreamEvent, void, undefined> {
  let cursor = options.cursor;
  let failures = 0;
  const outer = options.signal;
  while (!outer?.aborted) {
    const abort = new AbortController();
    const stop = (): void => abort.abort(outer?.reason);
    outer?.addEventListener("abort", stop, { once: true });
    let seen = 0;
    try {
      const response = await transport.fetch(new Request(request(cursor), { signal: abort.signal }));
      if (!response.ok || !response.body) throw await errorFromResponse(response);
      for await (const event of parse(response.body)) {
        failures = 0;
        seen++;
        cursor = event.id;
        yield event;
        if (options.last?.(event)) return;
      }
      if (options.emptyEnds && seen === 0) return;
    } catch (error) {
      if (outer?.aborted) return;
      const status = (error as { status?: number }).status;
      if (options.reconnect === false || (status !== undefined && status < 500 && status !== 429)) throw error;
    } finally {
      outer?.removeEventListener("abort", stop);
      abort.abort(); // the consumer broke out of the loop, or the stream ended: close the connection
    }
    if (options.reconnect === false) return;
    const delay = Math.min(30_000, (options.reconnectDelayMs ?? 500) * 2 ** failures++);
    await sleep(delay, outer).catch(() => undefined);
  }
}

/** Parses an SSE byte stream into events; comments (keep-alives) and id-less events are skipped. */
async function* parse(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const event = fields(block);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function fields(block: string): StreamEvent | undefined {
  let id: string | undefined;
  let type = "message";
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "id") id = value;
    else if (name === "event") type = value;
    else if (name === "data") data.push(value);
  }
  if (id === undefined || !data.length) return undefined;
  const text = data.join("\n");
  let parsed: Json = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { id, type, data: parsed };
}
