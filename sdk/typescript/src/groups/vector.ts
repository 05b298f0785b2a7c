/** Vector memory (/v1/vector…): texts embedded server-side, searched by meaning. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Namespace = Query<"/v1/vector/{key}", "get">;

export class VectorApi extends Group {
  /** Stores (or replaces) `text` under `key` (namespace, metadata, importance). */
  upsert(
    key: string,
    text: string,
    options?: Omit<Body<"/v1/vector/upsert", "post">, "key" | "text"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/vector/upsert", { body: { key, text, ...fields }, ...init }));
  }

  /** Semantic search (limit, min_similarity, scoring, metadata_filter). */
  search(query: string, options?: Omit<Body<"/v1/vector/search", "post">, "query"> & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/vector/search", { body: { query, ...fields }, ...init }));
  }

  /** Lists vector memory keys. */
  list(options?: Query<"/v1/vector", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/vector", { params: { query }, ...init }));
  }

  /** Gets one vector memory. */
  get(key: string, options?: Namespace & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/vector/{key}", { params: { path: { key }, query }, ...init }));
  }

  /** Deletes one vector memory. */
  delete(key: string, options?: Namespace & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.DELETE("/v1/vector/{key}", { params: { path: { key }, query }, ...init }));
  }
}
