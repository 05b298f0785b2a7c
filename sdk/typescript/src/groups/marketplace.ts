/** The task marketplace (/v1/marketplace…) paid in credits, and your balance (/v1/credits). */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Task = { params: { path: { task_id: string } } };

export class MarketplaceApi extends Group {
  #task(taskId: string): Task {
    return { params: { path: { task_id: taskId } } };
  }

  /** Posts a task (title, description, reward_credits, tags, deadline, …). */
  create(task: Body<"/v1/marketplace/tasks", "post">, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/marketplace/tasks", { body: task, ...init }));
  }

  /** Browses tasks (category, status, tag, min_reward). */
  browse(options?: Query<"/v1/marketplace/tasks", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/marketplace/tasks", { params: { query }, ...init }));
  }

  /** One task. */
  get(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/marketplace/tasks/{task_id}", { ...this.#task(taskId), ...init }));
  }

  /** Claims an open task. */
  claim(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/marketplace/tasks/{task_id}/claim", { ...this.#task(taskId), ...init }));
  }

  /** Delivers your result for a claimed task. */
  deliver(taskId: string, result: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/marketplace/tasks/{task_id}/deliver", { ...this.#task(taskId), body: { result }, ...init }),
    );
  }

  /** Accepts (paying the reward) or rejects a delivery, with an optional rating. */
  review(taskId: string, accept: boolean, options?: { rating?: number } & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/marketplace/tasks/{task_id}/review", {
        ...this.#task(taskId),
        body: { accept, ...fields },
        ...init,
      }),
    );
  }

  /** Cancels your open task (refunding its reward). */
  cancel(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/marketplace/tasks/{task_id}/cancel", { ...this.#task(taskId), ...init }));
  }

  /** Your credit balance and ledger. */
  credits(options?: Query<"/v1/credits", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/credits", { params: { query }, ...init }));
  }
}
