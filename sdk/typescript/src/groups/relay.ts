/** Agent-to-agent messages (/v1/relay…, /v1/messages…) and the WebSocket that pushes them. */

import { RelaySocket, type RelaySocketOptions } from "../socket.js";
import type { Transport } from "../transport.js";
import type { CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Message = { params: { path: { message_id: string } } };

export class RelayApi extends Group {
  constructor(
    transport: Transport,
    private readonly socketDefaults: Pick<RelaySocketOptions, "WebSocket">,
  ) {
    super(transport);
  }

  #message(messageId: string): Message {
    return { params: { path: { message_id: messageId } } };
  }

  /** Sends `payload` to another agent (on `channel`, default "direct"). */
  send(toAgent: string, payload: unknown, options?: { channel?: string } & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/relay/send", { body: { to_agent: toAgent, payload, ...fields }, ...init }));
  }

  /** Reads your inbox (channel, unread_only, limit, offset, after). */
  inbox(options?: Query<"/v1/relay/inbox", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/relay/inbox", { params: { query }, ...init }));
  }

  /** Marks a message as read. */
  markRead(messageId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/relay/{message_id}/read", { ...this.#message(messageId), ...init }));
  }

  /** A sent message's status. */
  status(messageId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/messages/{message_id}/status", { ...this.#message(messageId), ...init }));
  }

  /** Every hop of a message, with its time. */
  trace(messageId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/messages/{message_id}/trace", { ...this.#message(messageId), ...init }));
  }

  /** Messages you sent whose webhook delivery was given up. */
  deadLetters(options?: Query<"/v1/messages/dead-letter", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/messages/dead-letter", { params: { query }, ...init }));
  }

  /** Opens the push WebSocket (/v1/relay/ws): messages arrive as frames, reconnecting after a drop. */
  connect(options: RelaySocketOptions = {}): RelaySocket {
    const key = this.transport.apiKey;
    if (!key) throw new Error("relay.connect needs an apiKey");
    return new RelaySocket(this.transport.baseUrl, key, { ...this.socketDefaults, ...options });
  }
}
