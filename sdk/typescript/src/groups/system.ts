/** The server itself: the API root, health, Prometheus metrics, the SLA report and the contact form. */

import type { Body, CallOptions, Json } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

export class SystemApi extends Group {
  /** The API root: name, version and the endpoint list. */
  root(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/", init));
  }

  /** Health, version and every service's reachability. */
  health(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/health", init));
  }

  /** Prometheus metrics (text format). */
  metrics(options?: CallOptions): Promise<string> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/metrics", { ...init, parseAs: "text" }));
  }

  /** Uptime and response-time report. */
  sla(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/sla", init));
  }

  /** Sends the contact form (name, email, subject, message); limited to 5 a minute per address. */
  contact(form: Body<"/v1/contact", "post">, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/contact", { body: form, ...init }));
  }
}
