/** What the tests need from the stack that tests/test_typescript_client.py started: its gateways' URLs, the
 * admin password, a WebSocket constructor, and a recorder of the routes and methods the tests reached. */

import { WebSocket as NodeWebSocket } from "ws";
import { MoltGrid, type MoltGridOptions, type WebSocketConstructor } from "@moltgrid/client";

export const URLS = (process.env.MOLTGRID_TEST_URLS ?? "http://127.0.0.1:8000").split(",");
export const BASE_URL = URLS[0]!;
export const ADMIN_PASSWORD = process.env.MOLTGRID_TEST_ADMIN_PASSWORD ?? "";
/** The platform's WebSocket (Node >= 22, browsers), else the `ws` package (a devDependency). */
export const WebSocketImpl: WebSocketConstructor =
  (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (NodeWebSocket as unknown as WebSocketConstructor);

/** `METHOD /path/{template}` of every request sent through openapi-fetch, `METHOD /concrete/path` of every
 * request sent at all (fetch and WebSocket), and `group.method` of every client method called. */
export const reached = new Set<string>();
export const requested = new Set<string>();
export const called = new Set<string>();

/** Wraps a fetch so that every request's method and path are recorded in `requested`. */
export function recording(base: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    requested.add(`${request.method} ${new URL(request.url).pathname}`);
    return base(input, init);
  };
}

/** Wraps a WebSocket constructor so that every connection's path is recorded in `requested`. */
export function recordingSocket(Base: WebSocketConstructor = WebSocketImpl): WebSocketConstructor {
  return class extends (Base as unknown as new (url: string) => object) {
    constructor(url: string) {
      requested.add(`GET ${new URL(url).pathname}`);
      super(url);
    }
  } as unknown as WebSocketConstructor;
}

const GROUPS = new WeakSet<object>();

/** Wraps a client so that every method call and the route it reaches are recorded. */
export function tracked<T extends object>(client: T, prefix = ""): T {
  const api = (client as { api?: MoltGrid["api"] }).api ?? (client as { transport?: { api: MoltGrid["api"] } }).transport?.api;
  api?.use({
    onRequest({ request, schemaPath }) {
      reached.add(`${request.method} ${schemaPath}`);
    },
  });
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string") return value;
      if (typeof value === "function" && prefix) {
        return (...args: unknown[]) => {
          called.add(`${prefix}${prop}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (value && typeof value === "object" && isGroup(value)) return wrapGroup(value, `${prefix}${prop}.`);
      return value;
    },
  });
}

function isGroup(value: object): boolean {
  return GROUPS.has(value) || "transport" in value;
}

function wrapGroup<T extends object>(group: T, prefix: string): T {
  return new Proxy(group, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string" || typeof value !== "function" || prop === "constructor") return value;
      return (...args: unknown[]) => {
        called.add(`${prefix}${prop}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A freshly registered agent's client (tests never share agents: each has its own rate-limit budget). */
export async function agent(name: string, options: Omit<MoltGridOptions, "apiKey"> = {}): Promise<MoltGrid> {
  called.add("MoltGrid.register");
  const mg = await MoltGrid.register({
    name,
    baseUrl: BASE_URL,
    ...options,
    WebSocket: recordingSocket(options.WebSocket),
    fetch: recording(options.fetch),
  });
  reached.add("POST /v1/register"); // through its own unauthenticated transport
  return tracked(mg);
}

/** Polls `check` until it returns something truthy. */
export async function until<T>(what: string, check: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
