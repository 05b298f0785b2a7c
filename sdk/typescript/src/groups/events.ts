/** Your event log (/v1/events…): read after a cursor, acknowledge, or follow it live over SSE or a WebSocket. */

import { EventSocket, type SocketOptions } from "../socket.js";
import type { Transport } from "../transport.js";
import { type StreamEvent, type StreamOptions, streamEvents } from "../sse.js";
import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

export class EventsApi extends Group {
  constructor(
    transport: Transport,
    private readonly socketDefaults: Pick<SocketOptions, "WebSocket">,
  ) {
    super(transport);
  }

  /** Events after a cursor (after, limit, wait for a long poll, types). */
  list(options?: Query<"/v1/events", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/events", { params: { query }, ...init }));
  }

  /** Acknowledges events up to a cursor, or by id. */
  ack(options: Body<"/v1/events/ack", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/events/ack", { body, ...init }));
  }

  /** Follows the event stream (GET /v1/events/stream, Server-Sent Events) as an async iterator; after a
   * dropped connection it reconnects with Last-Event-ID, so no event is lost or repeated. */
  stream(options?: StreamOptions): AsyncGenerator<StreamEvent, void, undefined> {
    return streamEvents(this.transport, options);
  }

  /** Opens the events WebSocket (/v1/events/ws): unacknowledged events first, then live ones, as frames;
   * `socket.ack(ids)` acknowledges. It reconnects after a drop (and then resends what is unacknowledged). */
  connect(options: SocketOptions = {}): EventSocket {
    const key = this.transport.apiKey;
    if (!key) throw new Error("events.connect needs an apiKey");
    return new EventSocket(this.transport.baseUrl, key, { ...this.socketDefaults, ...options });
  }
}
