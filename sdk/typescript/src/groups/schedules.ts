/** Cron schedules (/v1/schedules…) that enqueue jobs. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Task = { params: { path: { task_id: string } } };

export class SchedulesApi extends Group {
  #task(taskId: string): Task {
    return { params: { path: { task_id: taskId } } };
  }

  /** Creates a schedule: `cron_expr` enqueues `payload` (queue_name, timezone, overlap, catchup, …). */
  create(
    cronExpr: string,
    payload: unknown,
    options?: Omit<Body<"/v1/schedules", "post">, "cron_expr" | "payload"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    const body = { cron_expr: cronExpr, payload, ...fields } as Body<"/v1/schedules", "post">;
    return unwrap(this.api.POST("/v1/schedules", { body, ...init }));
  }

  /** Lists your schedules. */
  list(options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/schedules", init));
  }

  /** Gets a schedule. */
  get(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/schedules/{task_id}", { ...this.#task(taskId), ...init }));
  }

  /** Enables or disables a schedule. */
  setEnabled(taskId: string, enabled: boolean, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.PATCH("/v1/schedules/{task_id}", {
        params: { path: { task_id: taskId }, query: { enabled } },
        ...init,
      }),
    );
  }

  /** Deletes a schedule. */
  delete(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.DELETE("/v1/schedules/{task_id}", { ...this.#task(taskId), ...init }));
  }

  /** Runs a schedule now. */
  trigger(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/schedules/{task_id}/trigger", { ...this.#task(taskId), ...init }));
  }

  /** Lists a schedule's runs. */
  runs(taskId: string, options?: Query<"/v1/schedules/{task_id}/runs", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/schedules/{task_id}/runs", { params: { path: { task_id: taskId }, query }, ...init }),
    );
  }
}
