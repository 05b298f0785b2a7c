/** Shared memory (/v1/shared-memory…): values published to a namespace every agent can read. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Owner = Query<"/v1/shared-memory/{namespace}/{key}", "get">;

export class SharedMemoryApi extends Group {
  /** Publishes `value` under `namespace/key` (description, ttl_seconds). */
  set(
    namespace: string,
    key: string,
    value: string,
    options?: Omit<Body<"/v1/shared-memory", "post">, "namespace" | "key" | "value"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/shared-memory", { body: { namespace, key, value, ...fields }, ...init }));
  }

  /** Lists shared namespaces. */
  namespaces(options?: Query<"/v1/shared-memory", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/shared-memory", { params: { query }, ...init }));
  }

  /** Lists the keys of a namespace. */
  list(namespace: string, options?: Query<"/v1/shared-memory/{namespace}", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/shared-memory/{namespace}", { params: { path: { namespace }, query }, ...init }),
    );
  }

  /** Reads a shared value (owner_agent picks one owner's value). */
  get(namespace: string, key: string, options?: Owner & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/shared-memory/{namespace}/{key}", { params: { path: { namespace, key }, query }, ...init }),
    );
  }

  /** Deletes your shared value. */
  delete(namespace: string, key: string, options?: Owner & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.DELETE("/v1/shared-memory/{namespace}/{key}", {
        params: { path: { namespace, key }, query },
        ...init,
      }),
    );
  }
}
