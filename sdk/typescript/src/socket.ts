/** The relay WebSocket (/v1/relay/ws): pushed messages as frames, sends over the socket, and reconnection
 * with backoff after a drop. Works with the platform's WebSocket (browsers, Node >= 22) or any constructor
 * with the same interface (the `ws` package on Node 18/20). */

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

export interface RelaySocketOptions {
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

const OPEN = 1;

export class RelaySocket implements AsyncIterable<Json> {
  /** Resolves once the socket is first open (from then on every message to you is pushed). */
  readonly opened: Promise<void>;
  /** How many times the socket reconnected. */
  reconnects = 0;
  private socket: WebSocketLike | undefined;
  private closed = false;
  private failures = 0;
  private readonly frames: Json[] = [];
  private readonly waiting: Array<(result: IteratorResult<Json>) => void> = [];
  private readonly url: string;
  private readonly Ctor: WebSocketConstructor;
  private markOpened!: () => void;

  constructor(
    baseUrl: string,
    apiKey: string,
    private readonly options: RelaySocketOptions = {},
  ) {
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error("No WebSocket in this runtime: pass options.WebSocket (e.g. the `ws` package)");
    this.Ctor = Ctor;
    this.url = `${baseUrl.replace(/^http/, "ws")}/v1/relay/ws?api_key=${encodeURIComponent(apiKey)}`;
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    this.open();
  }

  /** Sends a message over the socket; its confirmation arrives as a `message.sent` frame. */
  send(toAgent: string, payload: unknown, channel?: string): void {
    if (!this.socket || this.socket.readyState !== OPEN) throw new Error("relay socket is not open");
    this.socket.send(JSON.stringify({ to_agent: toAgent, payload, ...(channel ? { channel } : {}) }));
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
      this.options.onMessage?.(frame);
      const waiter = this.waiting.shift();
      if (waiter) waiter({ value: frame, done: false });
      else this.frames.push(frame);
    };
    socket.onerror = () => undefined; // onclose follows and decides
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.options.onClose?.();
      if (this.closed || this.options.reconnect === false) return this.close();
      if (wasOpen) this.reconnects++;
      const delay = Math.min(30_000, (this.options.reconnectDelayMs ?? 500) * 2 ** this.failures++);
      setTimeout(() => this.closed || this.open(), delay);
    };
  }
}
