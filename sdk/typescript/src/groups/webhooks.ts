/** Webhooks (/v1/webhooks…): signed event deliveries to your URL, their log, tests and replays. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Hook = { params: { path: { webhook_id: string } } };

export class WebhooksApi extends Group {
  #hook(webhookId: string): Hook {
    return { params: { path: { webhook_id: webhookId } } };
  }

  /** Registers `url` for `event_types` (with an optional signing secret). */
  create(
    url: string,
    eventTypes: string[],
    options?: Omit<Body<"/v1/webhooks", "post">, "url" | "event_types"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/webhooks", { body: { url, event_types: eventTypes, ...fields }, ...init }));
  }

  /** Lists your webhooks. */
  list(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/webhooks", init));
  }

  /** Deletes a webhook. */
  delete(webhookId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.DELETE("/v1/webhooks/{webhook_id}", { ...this.#hook(webhookId), ...init }));
  }

  /** A webhook's delivery log. */
  deliveries(
    webhookId: string,
    options?: Query<"/v1/webhooks/{webhook_id}/deliveries", "get"> & CallOptions,
  ): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/webhooks/{webhook_id}/deliveries", {
        params: { path: { webhook_id: webhookId }, query },
        ...init,
      }),
    );
  }

  /** Sends a signed test event and reports the receiver's answer. */
  test(webhookId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/webhooks/{webhook_id}/test", { ...this.#hook(webhookId), ...init }));
  }

  /** Delivers one logged event again (same webhook-id). */
  replayDelivery(webhookId: string, deliveryId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", {
        params: { path: { webhook_id: webhookId, delivery_id: deliveryId } },
        ...init,
      }),
    );
  }
}
