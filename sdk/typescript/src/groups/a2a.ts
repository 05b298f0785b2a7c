/** A2A (Agent2Agent 1.0): the hosted agent's side of its tasks (/v1/a2a/tasks…), outside agents
 * (/v1/a2a/agents…), the agent cards, and a caller's side over the HTTP+JSON binding (/a2a/{agent_id}/…):
 * send a message, read or cancel the task, follow its stream. Push notification configs, message:stream and
 * the JSON-RPC binding are left to A2A SDKs, which speak to the same endpoints (README, "A2A"). */

import { errorFromResponse } from "../errors.js";
import type { components } from "../generated/schema.js";
import { type StreamEvent, type StreamOptions, follow } from "../sse.js";
import { randomKey, unwrap } from "../transport.js";
import type { Body, CallOptions, Json, Query } from "../types.js";
import { Group } from "./group.js";

export type A2AMessage = components["schemas"]["Message"];
export type A2APart = components["schemas"]["Part"];
type TaskState = Body<"/v1/a2a/tasks/{task_id}/status", "post">["state"];

/** States after which a task's stream ends: terminal, or waiting for the caller. */
const ENDS_STREAM = new Set([
  "TASK_STATE_COMPLETED",
  "TASK_STATE_FAILED",
  "TASK_STATE_CANCELED",
  "TASK_STATE_REJECTED",
  "TASK_STATE_INPUT_REQUIRED",
  "TASK_STATE_AUTH_REQUIRED",
]);

export interface A2ASendOptions extends CallOptions {
  /** Wait (at most 30 s, server-side) until the task ends or needs input (default true); false answers the
   * task as submitted. */
  blocking?: boolean;
  /** Further `configuration` fields of SendMessageRequest (historyLength, acceptedOutputModes, …). */
  configuration?: Record<string, unknown>;
  /** The request's `metadata`. */
  metadata?: Record<string, unknown>;
}

export interface A2AStreamOptions extends StreamOptions {
  /** Resume after this event id (a previous event's `id`): what the server sent as SSE `id`. */
  after?: string;
}

export class A2AApi extends Group {
  // ── the hosted agent's side ──

  /** A2A tasks addressed to you, oldest update first (state, cursor, limit): your work queue. */
  tasks(options?: Query<"/v1/a2a/tasks", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/a2a/tasks", { params: { query }, ...init }));
  }

  /** Moves one of your tasks on: `TASK_STATE_WORKING`, `…_COMPLETED` (with artifacts), `…_INPUT_REQUIRED`
   * (with a message), …; answers the task. */
  updateStatus(
    taskId: string,
    state: TaskState,
    options?: Omit<Body<"/v1/a2a/tasks/{task_id}/status", "post">, "state"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/a2a/tasks/{task_id}/status", {
        params: { path: { task_id: taskId } },
        body: { state, ...fields },
        ...init,
      }),
    );
  }

  // ── outside agents ──

  /** Hosted and outside A2A agents with their card URLs (include_hosted, limit). */
  agents(options?: Query<"/v1/a2a/agents", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/a2a/agents", { params: { query }, ...init }));
  }

  /** Lists an A2A agent hosted elsewhere by its card URL (fetched, validated and refreshed by the server). */
  addAgent(cardUrl: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/a2a/agents", { body: { card_url: cardUrl }, ...init }));
  }

  /** Removes an outside agent you listed. */
  removeAgent(externalId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.DELETE("/v1/a2a/agents/{external_id}", { params: { path: { external_id: externalId } }, ...init }),
    );
  }

  // ── cards ──

  /** The hub's own agent card (GET /.well-known/agent-card.json). */
  hubCard(options?: CallOptions): Promise<Json> {
    return this.#request("GET", "/.well-known/agent-card.json", undefined, options, false);
  }

  /** A hosted agent's agent card (a private agent's only for itself). */
  card(agentId: string, options?: CallOptions): Promise<Json> {
    const path = `/a2a/${encodeURIComponent(agentId)}/.well-known/agent-card.json`;
    return this.#request("GET", path, undefined, options, false);
  }

  // ── a caller's side (HTTP+JSON binding) ──

  /** Sends a message to a hosted agent (SendMessage): a text, or a whole A2A Message (its messageId and role
   * default to a random id and ROLE_USER). Answers the Task: the task as it ended, or, with
   * `blocking: false`, as submitted. A message naming a `taskId` continues that task. */
  async send(agentId: string, message: string | Partial<A2AMessage>, options: A2ASendOptions = {}): Promise<Json> {
    const { blocking, configuration, metadata, ...call } = options;
    const full: A2AMessage = {
      messageId: randomKey(),
      role: "ROLE_USER",
      ...(typeof message === "string" ? { parts: [{ text: message }] } : message),
    } as A2AMessage;
    const config = { ...configuration, ...(blocking === false ? { returnImmediately: true } : {}) };
    const body = {
      message: full,
      ...(Object.keys(config).length ? { configuration: config } : {}),
      ...(metadata ? { metadata } : {}),
    };
    const sent = await this.#request("POST", this.#path(agentId, "message:send"), body, call);
    return sent.task ?? sent;
  }

  /** A task you sent to `agentId` (GetTask), with at most `historyLength` messages of its history. */
  task(agentId: string, taskId: string, options?: { historyLength?: number } & CallOptions): Promise<Json> {
    const { historyLength, ...call } = options ?? {};
    const query = historyLength === undefined ? "" : `?historyLength=${historyLength}`;
    return this.#request("GET", this.#path(agentId, `tasks/${encodeURIComponent(taskId)}${query}`), undefined, call);
  }

  /** Cancels a task that has not ended (CancelTask); answers the task. */
  cancel(agentId: string, taskId: string, options?: CallOptions): Promise<Json> {
    return this.#request("POST", this.#path(agentId, `tasks/${encodeURIComponent(taskId)}:cancel`), {}, options);
  }

  /** Follows a task (SubscribeToTask) as an async iterator of its stream's events: the Task first
   * (`data.task`), then `data.statusUpdate` / `data.artifactUpdate`, until the task ends or needs input.
   * A dropped connection is reopened with Last-Event-ID: nothing is lost or repeated. */
  stream(agentId: string, taskId: string, options: A2AStreamOptions = {}): AsyncGenerator<StreamEvent, void, undefined> {
    const { after, ...rest } = options;
    const url = `${this.transport.baseUrl}${this.#path(agentId, `tasks/${encodeURIComponent(taskId)}:subscribe`)}`;
    return follow(
      this.transport,
      (cursor) =>
        new Request(url, {
          method: "POST",
          headers: {
            ...this.transport.headers,
            Accept: "text/event-stream",
            "A2A-Version": "1.0",
            ...(cursor !== undefined ? { "Last-Event-ID": cursor } : {}),
          },
        }),
      { ...rest, cursor: after, last: endsStream, emptyEnds: true },
    );
  }

  #path(agentId: string, tail: string): string {
    return `/a2a/${encodeURIComponent(agentId)}/${tail}`;
  }

  /** One request outside /openapi.json; `a2a` adds the A2A-Version header the protocol routes ask for. */
  async #request(method: string, path: string, body: unknown, options: CallOptions = {}, a2a = true): Promise<Json> {
    const init = this.transport.init(options);
    const headers: Record<string, string> = { ...this.transport.headers, ...init.headers };
    if (a2a) headers["A2A-Version"] = "1.0";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await this.transport.fetch(
      new Request(`${this.transport.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
      }),
    );
    if (!response.ok) throw await errorFromResponse(response);
    return response.json();
  }
}

/** Whether a stream event is the last one the server sends (the task ended or waits for the caller). */
function endsStream(event: StreamEvent): boolean {
  const state = event.data?.task?.status?.state ?? event.data?.statusUpdate?.status?.state;
  return ENDS_STREAM.has(state);
}
