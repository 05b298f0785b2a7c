/** Queue, schedules, task graphs, the marketplace, coordination scenarios and text utilities. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { agent } from "../env.js";

test("queue: submit, claim, heartbeat, complete, fail, dead letters, replay", async () => {
  const a = await agent("ts-queue");
  const q = `ts-${a.agentId}`;
  const job = await a.queue.submit({ task: "resize" }, { queue_name: q, priority: 5 });
  await a.queue.submitBatch([{ payload: { n: 1 }, queue_name: q }]);
  const claimed = await a.queue.claim({ queue_name: q });
  assert.equal(claimed.job_id, job.job_id);
  await a.queue.heartbeat(job.job_id, { extend_seconds: 30 });
  await a.queue.complete(job.job_id, { result: "done" });
  assert.equal((await a.queue.get(job.job_id)).status, "completed");
  const second = await a.queue.claim({ queue_name: q });
  await a.queue.fail(second.job_id, { error: "boom", retryable: false });
  const dead = await a.queue.deadLetters({ queue_name: q });
  assert.ok(JSON.stringify(dead).includes(second.job_id));
  await a.queue.replay(second.job_id);
  const again = await a.queue.claim({ queue_name: q });
  await a.queue.fail(again.job_id, { error: "boom again", retryable: false });
  assert.ok(await a.queue.replayDeadLetters({ queue_name: q }));
  const last = await a.queue.claim({ queue_name: q });
  await a.queue.fail(last.job_id, { error: "final", retryable: false });
  assert.ok(await a.queue.purgeDeadLetters({ queue_name: q }));
  assert.ok(JSON.stringify(await a.queue.list({ queue_name: q, status: "completed" })).includes(job.job_id));
  assert.ok(await a.queue.stats({ queue_name: q }));
});

test("queue: claim several, heartbeatMany, completeMany, failMany", async () => {
  const a = await agent("ts-queue-many");
  const q = `ts-many-${a.agentId}`;
  await a.queue.submitBatch([1, 2, 3].map((n) => ({ payload: { n }, queue_name: q, max_attempts: 1 })));
  const claimed = await a.queue.claim({ queue_name: q, max_jobs: 3 });
  assert.ok(Array.isArray(claimed) && claimed.length === 3, JSON.stringify(claimed));
  const [one, two, three] = claimed.map((j: { job_id: string }) => j.job_id) as [string, string, string];
  const beats = await a.queue.heartbeatMany([{ job_id: one, extend_seconds: 30 }, { job_id: two }]);
  assert.equal(beats.succeeded, 2, JSON.stringify(beats));
  const done = await a.queue.completeMany([{ job_id: one, result: "a" }, { job_id: two, result: "b" }]);
  assert.deepEqual(done.results.map((r: { job_id: string }) => r.job_id), [one, two]);
  assert.equal((await a.queue.failMany([{ job_id: three, error: "no", retryable: false }])).succeeded, 1);
  assert.equal((await a.queue.get(one)).status, "completed");
  assert.equal((await a.queue.get(two)).status, "completed");
  assert.ok(JSON.stringify(await a.queue.deadLetters({ queue_name: q })).includes(three));
});

test("schedules: create, list, get, setEnabled, trigger, runs, delete", async () => {
  const a = await agent("ts-schedules");
  const s = await a.schedules.create("*/5 * * * *", { report: true }, { queue_name: "ts-cron" });
  assert.ok(JSON.stringify(await a.schedules.list()).includes(s.task_id));
  assert.equal((await a.schedules.get(s.task_id)).task_id, s.task_id);
  await a.schedules.setEnabled(s.task_id, false);
  assert.equal((await a.schedules.get(s.task_id)).enabled, false);
  await a.schedules.trigger(s.task_id);
  assert.ok(await a.schedules.runs(s.task_id, { limit: 5 }));
  await a.schedules.delete(s.task_id);
  await assert.rejects(a.schedules.get(s.task_id), { status: 404 });
});

test("task graphs: create, dependencies, claim, complete, update, list, get", async () => {
  const a = await agent("ts-tasks");
  const first = await a.tasks.create("fetch data", { priority: 2 });
  const second = await a.tasks.create("analyse data");
  await a.tasks.addDependency(second.task_id, first.task_id);
  await a.tasks.claim(first.task_id, { lease_seconds: 60 });
  await a.tasks.complete(first.task_id, { result: { rows: 3 } });
  await a.tasks.update(second.task_id, "cancelled");
  assert.equal((await a.tasks.get(second.task_id)).status, "cancelled");
  assert.ok(JSON.stringify(await a.tasks.list({ creator: a.agentId! })).includes(first.task_id));
});

test("marketplace: create, browse, get, claim, deliver, review, cancel, credits", async () => {
  const [poster, worker] = await Promise.all([agent("ts-poster"), agent("ts-worker")]);
  const task = await poster.marketplace.create({ title: "Summarise a paper", reward_credits: 10, tags: ["ts"] });
  assert.ok(JSON.stringify(await worker.marketplace.browse({ tag: "ts" })).includes(task.task_id));
  assert.equal((await worker.marketplace.get(task.task_id)).title, "Summarise a paper");
  await worker.marketplace.claim(task.task_id);
  await worker.marketplace.deliver(task.task_id, "It is about agents.");
  await poster.marketplace.review(task.task_id, true, { rating: 5 });
  assert.ok(await worker.marketplace.credits());
  const other = await poster.marketplace.create({ title: "Never mind", reward_credits: 1 });
  await poster.marketplace.cancel(other.task_id);
});

test("coordination scenarios and text utilities", async () => {
  const a = await agent("ts-testing");
  const scenario = await a.testing.create({ pattern: "leader_election", agent_count: 3, timeout_seconds: 30 });
  assert.ok(JSON.stringify(await a.testing.list()).includes(scenario.scenario_id));
  assert.equal((await a.testing.run(scenario.scenario_id)).status, "completed");
  assert.ok(await a.testing.results(scenario.scenario_id));
  const urls = await a.text.process("see https://example.org today", "extract_urls");
  assert.ok(JSON.stringify(urls).includes("https://example.org"));
});
