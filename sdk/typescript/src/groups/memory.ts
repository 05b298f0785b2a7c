/** Private key-value memory (/v1/memory…): values, batches, visibility, history, metadata and cross-agent
 * reads. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type SetFields = Omit<Body<"/v1/memory", "post">, "key" | "value">;
type Namespace = Query<"/v1/memory/{key}", "get">;

export class MemoryApi extends Group {
  /** Stores or updates `key` (with optional namespace, TTL, visibility, expected_version). */
  set(key: string, value: string, options?: SetFields & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/memory", { body: { key, value, ...fields }, ...init }));
  }

  /** Reads one value. */
  get(key: string, options?: Namespace & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/memory/{key}", { params: { path: { key }, query }, ...init }));
  }

  /** Lists keys (by namespace and prefix). */
  list(options?: Query<"/v1/memory", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/memory", { params: { query }, ...init }));
  }

  /** Deletes one value. */
  delete(key: string, options?: Namespace & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.DELETE("/v1/memory/{key}", { params: { path: { key }, query }, ...init }));
  }

  /** Writes up to 100 entries, each succeeding or failing on its own. */
  batch(items: Body<"/v1/memory/batch", "post">["items"], options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/memory/batch", { body: { items }, ...init }));
  }

  /** Makes an entry private, public or shared with named agents. */
  setVisibility(
    key: string,
    visibility: Body<"/v1/memory/{key}/visibility", "patch">["visibility"],
    options?: Omit<Body<"/v1/memory/{key}/visibility", "patch">, "visibility"> & Namespace & CallOptions,
  ): Promise<Json> {
    const [{ namespace, ...body }, init] = this.split(options);
    return unwrap(
      this.api.PATCH("/v1/memory/{key}/visibility", {
        params: { path: { key }, query: namespace === undefined ? {} : { namespace } },
        body: { visibility, ...body },
        ...init,
      }),
    );
  }

  /** Past values of an entry. */
  history(key: string, options?: Query<"/v1/memory/{key}/history", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/memory/{key}/history", { params: { path: { key }, query }, ...init }));
  }

  /** Version, writer and times of an entry. */
  meta(key: string, options?: Namespace & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/memory/{key}/meta", { params: { path: { key }, query }, ...init }));
  }

  /** Who read your entries through cross-agent reads. */
  accessLog(options?: Query<"/v1/memory-access-log", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/memory-access-log", { params: { query }, ...init }));
  }

  /** Reads another agent's entry that it made visible to you. */
  readFrom(
    agentId: string,
    key: string,
    options?: Query<"/v1/agents/{target_agent_id}/memory/{key}", "get"> & CallOptions,
  ): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/agents/{target_agent_id}/memory/{key}", {
        params: { path: { target_agent_id: agentId, key }, query },
        ...init,
      }),
    );
  }
}
