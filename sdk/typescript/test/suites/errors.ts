/** Typed errors with the server's fields, automatic retry on a real 429 honouring Retry-After, and
 * Idempotency-Key on writes. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AuthenticationError,
  MoltGrid,
  MoltGridError,
  NotFoundError,
  RateLimitError,
  ValidationError,
} from "@moltgrid/client";
import { BASE_URL, agent } from "../env.js";

test("errors carry status, detail, code, request_id and retry_after_seconds", async () => {
  const a = await agent("ts-errors");
  const missing = await a.memory.get("no-such-key").catch((e: unknown) => e);
  assert.ok(missing instanceof NotFoundError && missing instanceof MoltGridError);
  assert.equal(missing.status, 404);
  assert.equal(missing.code, "not_found");
  assert.equal(typeof missing.detail, "string");
  assert.match(missing.requestId ?? "", /^[0-9a-f]+$/);
  assert.equal(missing.retryAfterSeconds, null);
  const invalid = await a.memory.set("", "x", { ttl_seconds: -5 }).catch((e: unknown) => e);
  assert.ok(invalid instanceof ValidationError);
  assert.equal(invalid.status, 422);
  assert.ok(Array.isArray(invalid.detail) && invalid.detail.length > 0);
  const traced = await a.memory.get("no-such-key", { headers: { "X-Request-ID": "ts-trace-1" } }).catch((e) => e);
  assert.equal(traced.requestId, "ts-trace-1");
  const anonymous = new MoltGrid({ baseUrl: BASE_URL, apiKey: "af_not_a_key" });
  await assert.rejects(anonymous.memory.list(), AuthenticationError);
});

/** Spends the agent's whole per-minute budget with raw requests, so that its next call gets a real 429. */
async function exhaust(mg: MoltGrid): Promise<number> {
  const headers = { "X-API-Key": mg.apiKey! };
  for (;;) {
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${BASE_URL}/v1/memory`, { headers }).then((r) => (r.body?.cancel(), r))),
    );
    const limited = answers.find((r) => r.status === 429);
    if (limited) return Number(limited.headers.get("Retry-After"));
  }
}

test("a 429 is retried after Retry-After for idempotent calls, and thrown typed otherwise", async () => {
  const a = await agent("ts-ratelimit");
  await a.memory.set("k", "v");
  const statuses: number[] = [];
  const observing: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    statuses.push(response.status);
    return response;
  };
  const mg = new MoltGrid({ apiKey: a.apiKey!, baseUrl: BASE_URL, fetch: observing });
  /** Exhausts the budget, then makes the call; again if a refilled slot let its first attempt through. */
  async function limited<T>(call: () => Promise<T>): Promise<{ result: T | unknown; ms: number; wait: number }> {
    for (let tries = 0; ; tries++) {
      const wait = await exhaust(a);
      statuses.length = 0;
      const started = Date.now();
      const result = await call().catch((e: unknown) => e);
      if (statuses[0] === 429 || tries === 3) return { result, ms: Date.now() - started, wait };
    }
  }
  // A POST without an Idempotency-Key is not repeated: the 429 surfaces with its wait.
  const refused = await limited(() => mg.memory.set("other", "x"));
  assert.deepEqual(statuses, [429]);
  assert.ok(refused.result instanceof RateLimitError, String(refused.result));
  assert.equal(refused.result.status, 429);
  assert.equal(refused.result.code, "rate_limit_exceeded");
  assert.ok((refused.result.retryAfterSeconds ?? 0) >= 1);
  // A GET waits as the server says (Retry-After) and then succeeds.
  const read = await limited(() => mg.memory.get("k"));
  assert.deepEqual(statuses, [429, 200]);
  assert.equal((read.result as { value: string }).value, "v");
  assert.ok(read.ms >= read.wait * 1000 - 50, `retried after ${read.ms} ms, Retry-After ${read.wait}`);
  // With retries off the same situation throws.
  const strict = new MoltGrid({ apiKey: a.apiKey!, baseUrl: BASE_URL, retry: { retries: 0 }, fetch: observing });
  assert.ok((await limited(() => strict.memory.get("k"))).result instanceof RateLimitError);
  // A write with an Idempotency-Key is retried too, and runs once.
  // (one key for every try: a try whose first attempt got through is replayed, not run again)
  const keyed = await limited(() => mg.memory.set("k", "keyed", { idempotencyKey: `keyed-${a.agentId}` }));
  assert.deepEqual(statuses, [429, 200]);
  assert.equal((keyed.result as { version: number }).version, 2);
});

test("Idempotency-Key: a repeated write replays the first answer", async () => {
  const a = await agent("ts-idem");
  const q = `ts-idem-${a.agentId}`;
  const first = await a.queue.submit({ n: 1 }, { queue_name: q, idempotencyKey: "submit-once" });
  const second = await a.queue.submit({ n: 1 }, { queue_name: q, idempotencyKey: "submit-once" });
  assert.equal(second.job_id, first.job_id);
  assert.equal((await a.queue.list({ queue_name: q })).jobs.length, 1);
});
