/** The push WebSockets: the relay's (/v1/relay/ws: pushed messages as frames, sends over the socket) and the
 * event log's (/v1/events/ws: unacknowledged events first, then live ones, acknowledged by id), each
 * reconnecting with backoff after a drop. Works with the platform's WebSocket (browsers, Node >= 22) or any
 * constructor with the same interface (the `ws` package on Node 18/20). */

import type { Json } from "./types.js";

/** The parts of the WHATWG WebSocket this helper uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface SocketOptions {
  /** A WebSocket constructor (default globalThis.WebSocket). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect after the connection drops (default true). */
  reconnect?: boolean;
  /** First reconnect delay, doubled per failed attempt up to 30 s (default 500 ms). */
  reconnectDelayMs?: number;
  /** Called with every frame (e.g. `{event: "message.received", message_id, from_agent, payload, …}`). */
  onMessage?: (frame: Json) => void;
  /** Called on every (re)connection; after a reconnect, read relay.inbox() for what arrived meanwhile. */
  onOpen?: (reconnected: boolean) => void;
  onClose?: () => void;
}
export type RelaySocketOptions = SocketOptions;

const OPEN = 1;
/** The close code for a missing, unknown or revoked key: reconnecting would not help. */
const REFUSED = 4001;

/** One push WebSocket: frames as an async iterator (and `onMessage`), reconnecting after a drop. */
export class PushSocket implements AsyncIterable<Json> {
  /** Resolves once the socket is first open (from then on every message to you is pushed). */
  readonly opened: Promise<void>;
  /** How many times the socket reconnected. */
  reconnects = 0;
  protected socket: WebSocketLike | undefined;
  private closed = false;
  private failures = 0;
  private readonly frames: Json[] = [];
  private readonly waiting: Array<(result: IteratorResult<Json>) => void> = [];
  private readonly url: string;
  private readonly Ctor: WebSocketConstructor;
  private markOpened!: () => void;

  constructor(
    baseUrl: string,
    path: string,
    apiKey: string,
    private readonly options: SocketOptions = {},
  ) {
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error("No WebSocket in this runtime: pass options.WebSocket (e.g. the `ws` package)");
    this.Ctor = Ctor;
    this.url = `${baseUrl.replace(/^http/, "ws")}${path}?api_key=${encodeURIComponent(apiKey)}`;
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    this.open();
  }

  /** Sends one JSON frame (throws when the socket is not open). */
  protected sendFrame(frame: unknown): void {
    if (!this.socket || this.socket.readyState !== OPEN) throw new Error("socket is not open");
    this.socket.send(JSON.stringify(frame));
  }

  /** Whether a frame is passed on (to onMessage and the iterator); the others are the protocol's own. */
  protected keep(_frame: Json): boolean {
    return true;
  }

  /** Closes the socket for good and ends the iteration. */
  close(): void {
    this.closed = true;
    this.socket?.close(1000);
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true });
  }

  /** The next frame (or undefined after close). */
  async next(): Promise<Json | undefined> {
    const result = await this.take();
    return result.done ? undefined : result.value;
  }

  [Symbol.asyncIterator](): AsyncIterator<Json> {
    return { next: () => this.take(), return: async () => (this.close(), { value: undefined, done: true }) };
  }

  private take(): Promise<IteratorResult<Json>> {
    if (this.frames.length) return Promise.resolve({ value: this.frames.shift(), done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private open(): void {
    const socket = new this.Ctor(this.url);
    this.socket = socket;
    let wasOpen = false;
    socket.onopen = () => {
      wasOpen = true;
      const reconnected = this.reconnects > 0;
      this.failures = 0;
      this.markOpened();
      this.options.onOpen?.(reconnected);
    };
    socket.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data as ArrayBuffer);
      let frame: Json = text;
      try {
        frame = JSON.parse(text);
      } catch {
        // not JSON: pass the text on
      }
      if (!this.keep(frame)) return;
      this.options.onMessage?.(frame);
      const waiter = this.waiting.shift();
      if (waiter) waiter({ value: frame, done: false });
      else this.frames.push(frame);
    };
    socket.onerror = () => undefined; // onclose follows and decides
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.options.onClose?.();
      if (this.closed || this.options.reconnect === false || event?.code === REFUSED) return this.close();
      if (wasOpen) this.reconnects++;
      const delay = Math.min(30_000, (this.options.reconnectDelayMs ?? 500) * 2 ** this.failures++);
      setTimeout(() => this.closed || this.open(), delay);
    };
  }
}

/** The relay's socket (/v1/relay/ws): every message to you as a `message.received` frame; sends go out as
 * relay sends. After a reconnect, read relay.inbox() for what arrived meanwhile. */
export class RelaySocket extends PushSocket {
  constructor(baseUrl: string, apiKey: string, options: SocketOptions = {}) {
    super(baseUrl, "/v1/relay/ws", apiKey, options);
  }

  /** Sends a message over the socket; its confirmation arrives as a `message.sent` frame. */
  send(toAgent: string, payload: unknown, channel?: string): void {
    this.sendFrame({ to_agent: toAgent, payload, ...(channel ? { channel } : {}) });
  }
}

/** The event log's socket (/v1/events/ws): your unacknowledged events oldest first, then live ones, each a
 * frame `{type: "event", event_id, event_type, payload, created_at}` (the `connected` and `ping` frames are
 * not passed on). A reconnect sends the unacknowledged events again: acknowledge what you have handled. */
export class EventSocket extends PushSocket {
  constructor(baseUrl: string, apiKey: string, options: SocketOptions = {}) {
    super(baseUrl, "/v1/events/ws", apiKey, options);
  }

  /** Acknowledges events by id: they are not sent again (here, on /v1/events or after a reconnect). */
  ack(eventIds: string[]): void {
    this.sendFrame({ type: "ack", event_ids: eventIds });
  }

  protected override keep(frame: Json): boolean {
    return frame?.type !== "connected" && frame?.type !== "ping";
  }
}
