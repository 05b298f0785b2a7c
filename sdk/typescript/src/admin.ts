/** The admin panel's API (/admin/api/…), signed in with the operator's password: an admin session cookie,
 * kept by the browser or, on Node, by this client. */

import { errorFromResponse } from "./errors.js";
import { Group } from "./groups/group.js";
import { Transport, type TransportOptions, unwrap } from "./transport.js";
import type { CallOptions, Json, Query } from "./types.js";

/** The admin lists all take the same filters (limit, offset, agent_id, status, namespace). */
type ListPath =
  | "/admin/api/agents"
  | "/admin/api/memory"
  | "/admin/api/shared-memory"
  | "/admin/api/contact"
  | "/admin/api/messages"
  | "/admin/api/webhooks"
  | "/admin/api/queue"
  | "/admin/api/schedules"
  | "/admin/api/collaborations"
  | "/admin/api/marketplace"
  | "/admin/api/scenarios";
type ListQuery = Query<"/admin/api/agents", "get">;
type ListOptions = ListQuery & CallOptions;

export interface AdminLoginOptions extends Omit<TransportOptions, "apiKey"> {
  password: string;
}

export class MoltGridAdmin extends Group {
  /** Signs in (POST /admin/api/login) and returns a client holding the session. */
  static async login(options: AdminLoginOptions): Promise<MoltGridAdmin> {
    const { password, ...rest } = options;
    const probe = new Transport(rest);
    const response = await probe.fetch(
      new Request(`${probe.baseUrl}/admin/api/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ password }),
        credentials: "include",
      }),
    );
    if (!response.ok) throw await errorFromResponse(response);
    // Node can read Set-Cookie and sends the cookie itself; a browser hides it and keeps it in its jar.
    const cookie = /admin_token=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
    const headers = cookie ? { ...rest.headers, Cookie: `admin_token=${cookie}` } : rest.headers;
    return new MoltGridAdmin(new Transport({ ...rest, ...(headers ? { headers } : {}) }));
  }

  /** Ends the session. */
  async logout(): Promise<void> {
    const response = await this.transport.fetch(
      new Request(`${this.transport.baseUrl}/admin/api/logout`, {
        method: "POST",
        headers: this.transport.headers,
        credentials: "include",
      }),
    );
    if (!response.ok) throw await errorFromResponse(response);
  }

  #list(path: ListPath, options?: ListOptions): Promise<Json> {
    const [query, init] = this.split(options);
    // every ListPath has this route's query type; the cast picks one of the identical signatures
    return unwrap(this.api.GET(path as "/admin/api/agents", { params: { query }, ...init }));
  }

  /** System overview. */
  dashboard(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/admin/api/dashboard", init));
  }

  /** Uptime detail and timeline. */
  sla(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/admin/api/sla", init));
  }

  /** One agent with all its activity. */
  agent(agentId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/admin/api/agents/{agent_id}", { params: { path: { agent_id: agentId } }, ...init }));
  }

  /** Deletes an agent and all its data. */
  deleteAgent(agentId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.DELETE("/admin/api/agents/{agent_id}", { params: { path: { agent_id: agentId } }, ...init }),
    );
  }

  /** Reveals one (masked) memory value. */
  revealMemory(agentId: string, namespace: string, key: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.GET("/admin/api/memory/{agent_id}/{namespace}/{key}", {
        params: { path: { agent_id: agentId, namespace, key } },
        ...init,
      }),
    );
  }

  agents = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/agents", options);
  memory = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/memory", options);
  sharedMemory = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/shared-memory", options);
  contact = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/contact", options);
  messages = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/messages", options);
  webhooks = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/webhooks", options);
  queue = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/queue", options);
  schedules = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/schedules", options);
  collaborations = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/collaborations", options);
  marketplace = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/marketplace", options);
  scenarios = (options?: ListOptions): Promise<Json> => this.#list("/admin/api/scenarios", options);
}
