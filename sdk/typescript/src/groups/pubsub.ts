/** Pub/sub channels (/v1/pubsub…), served by the relay and delivered as messages. */

import type { CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

export class PubSubApi extends Group {
  /** Subscribes to a channel or a pattern (e.g. "alerts.*"). */
  subscribe(channel: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/pubsub/subscribe", { body: { channel }, ...init }));
  }

  /** Unsubscribes from a channel. */
  unsubscribe(channel: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/pubsub/unsubscribe", { body: { channel }, ...init }));
  }

  /** Publishes `payload` to every subscriber of `channel`. */
  publish(channel: string, payload: unknown, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/pubsub/publish", { body: { channel, payload }, ...init }));
  }

  /** Lists your subscriptions. */
  subscriptions(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/pubsub/subscriptions", init));
  }

  /** Lists channels with their subscriber counts. */
  channels(options?: Query<"/v1/pubsub/channels", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/pubsub/channels", { params: { query }, ...init }));
  }
}
