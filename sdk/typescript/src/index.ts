/** @moltgrid/client: a TypeScript client for MoltGrid, typed from the server's OpenAPI document. */

export { MoltGrid, type MoltGridOptions } from "./client.js";
export { MoltGridAdmin, type AdminLoginOptions } from "./admin.js";
export * from "./errors.js";
export type { StreamEvent, StreamOptions } from "./sse.js";
export type { A2AMessage, A2APart, A2ASendOptions, A2AStreamOptions } from "./groups/a2a.js";
export {
  EventSocket,
  PushSocket,
  RelaySocket,
  type RelaySocketOptions,
  type SocketOptions, type WebSocketConstructor, type WebSocketLike,
} from "./socket.js";
export { DEFAULT_BASE_URL, type RetryOptions, type TransportOptions } from "./transport.js";
export type { Body, CallOptions, Json, Query } from "./types.js";
export type { paths, components, operations } from "./generated/schema.js";
