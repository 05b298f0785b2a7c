/** The job queue (/v1/queue…): submit, claim with a lease (one job or several), complete or fail, heartbeats
 * (each also for many jobs at once), dead letters. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Job = { params: { path: { job_id: string } } };
type Claim = NonNullable<Body<"/v1/queue/claim", "post">>;
type DeadLetterFilter = Query<"/v1/queue/dead-letters", "get">;

export class QueueApi extends Group {
  #job(jobId: string): Job {
    return { params: { path: { job_id: jobId } } };
  }

  /** Submits a job (queue_name, priority, max_attempts, delay_seconds, dedup_key, …). */
  submit(payload: unknown, options?: Omit<Body<"/v1/queue/submit", "post">, "payload"> & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    const body = { payload, ...fields } as Body<"/v1/queue/submit", "post">;
    return unwrap(this.api.POST("/v1/queue/submit", { body, ...init }));
  }

  /** Submits up to 100 jobs at once. */
  submitBatch(items: Body<"/v1/queue/batch", "post">["items"], options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/batch", { body: { items }, ...init }));
  }

  /** Claims the next job of a queue (`{status: "empty"}` when there is none); with `max_jobs` above 1, a list
   * of up to that many jobs. */
  claim(options?: Query<"/v1/queue/claim", "post"> & Claim & CallOptions): Promise<Json> {
    const [{ max_jobs, ...query }, init] = this.split(options);
    const body = max_jobs === undefined ? {} : { body: { max_jobs } };
    return unwrap(this.api.POST("/v1/queue/claim", { params: { query }, ...body, ...init }));
  }

  /** Completes a claimed job with its result. */
  complete(jobId: string, options?: Query<"/v1/queue/{job_id}/complete", "post"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/queue/{job_id}/complete", { params: { path: { job_id: jobId }, query }, ...init }),
    );
  }

  /** Fails a claimed job (error, attempt, retryable). */
  fail(jobId: string, options?: Body<"/v1/queue/{job_id}/fail", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/{job_id}/fail", { ...this.#job(jobId), body, ...init }));
  }

  /** Extends a claimed job's lease (extend_seconds, progress). */
  heartbeat(jobId: string, options?: Body<"/v1/queue/{job_id}/heartbeat", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/{job_id}/heartbeat", { ...this.#job(jobId), body, ...init }));
  }

  /** Completes up to 100 claimed jobs (each `{job_id, result?, attempt?}`); one result per item. */
  completeMany(items: Body<"/v1/queue/complete", "post">["items"], options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/complete", { body: { items }, ...init }));
  }

  /** Fails up to 100 claimed jobs (each `{job_id, error?, attempt?, retryable?}`); one result per item. */
  failMany(items: Body<"/v1/queue/fail", "post">["items"], options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/fail", { body: { items }, ...init }));
  }

  /** Extends the leases of up to 100 claimed jobs (each `{job_id, attempt?, extend_seconds?, progress?}`). */
  heartbeatMany(items: Body<"/v1/queue/heartbeat", "post">["items"], options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/heartbeat", { body: { items }, ...init }));
  }

  /** A job's status. */
  get(jobId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/queue/{job_id}", { ...this.#job(jobId), ...init }));
  }

  /** Lists your jobs (queue_name, status). */
  list(options?: Query<"/v1/queue", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/queue", { params: { query }, ...init }));
  }

  /** Queue statistics. */
  stats(options?: Query<"/v1/queue/stats", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/queue/stats", { params: { query }, ...init }));
  }

  /** Replays one dead-lettered job. */
  replay(jobId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/{job_id}/replay", { ...this.#job(jobId), ...init }));
  }

  /** Lists dead-lettered jobs. */
  deadLetters(options?: DeadLetterFilter & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/queue/dead-letters", { params: { query }, ...init }));
  }

  /** Replays the dead-lettered jobs that match. */
  replayDeadLetters(options?: Body<"/v1/queue/dead-letters/replay", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/queue/dead-letters/replay", { body, ...init }));
  }

  /** Purges the dead-lettered jobs that match. */
  purgeDeadLetters(options?: Query<"/v1/queue/dead-letters", "delete"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.DELETE("/v1/queue/dead-letters", { params: { query }, ...init }));
  }
}
