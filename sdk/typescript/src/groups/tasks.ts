/** Task graphs (/v1/tasks…): tasks with dependencies, leased claims and a state machine. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Task = { params: { path: { task_id: string } } };

export class TasksApi extends Group {
  #task(taskId: string): Task {
    return { params: { path: { task_id: taskId } } };
  }

  /** Creates a task (description, priority, metadata, depends_on). */
  create(title: string, options?: Omit<Body<"/v1/tasks", "post">, "title"> & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/tasks", { body: { title, ...fields }, ...init }));
  }

  /** Lists tasks (status, creator, claimed_by, claimable). */
  list(options?: Query<"/v1/tasks", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/tasks", { params: { query }, ...init }));
  }

  /** A task with its history. */
  get(taskId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/tasks/{task_id}", { ...this.#task(taskId), ...init }));
  }

  /** Changes a task's status (with a result). */
  update(
    taskId: string,
    status: Body<"/v1/tasks/{task_id}", "patch">["status"],
    options?: Omit<Body<"/v1/tasks/{task_id}", "patch">, "status"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.PATCH("/v1/tasks/{task_id}", { ...this.#task(taskId), body: { status, ...fields }, ...init }));
  }

  /** Claims a task for lease_seconds. */
  claim(taskId: string, options?: Query<"/v1/tasks/{task_id}/claim", "post"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/tasks/{task_id}/claim", { params: { path: { task_id: taskId }, query }, ...init }),
    );
  }

  /** Completes a claimed task. */
  complete(taskId: string, options?: Body<"/v1/tasks/{task_id}/complete", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/tasks/{task_id}/complete", { ...this.#task(taskId), body, ...init }));
  }

  /** Makes a task depend on others. */
  addDependency(
    taskId: string,
    dependsOn: Body<"/v1/tasks/{task_id}/dependencies", "post">["depends_on"],
    options?: CallOptions,
  ): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/tasks/{task_id}/dependencies", {
        ...this.#task(taskId),
        body: { depends_on: dependsOn },
        ...init,
      }),
    );
  }
}
