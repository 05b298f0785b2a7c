/** Memory, shared memory, sessions, tiered memory and vector memory, each method with real arguments. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { agent } from "../env.js";

test("memory: set, get, list, delete, batch, visibility, history, meta, cross-agent reads", async () => {
  const [a, b] = await Promise.all([agent("ts-mem-a"), agent("ts-mem-b")]);
  assert.equal((await a.memory.set("state", "v1", { namespace: "ts" })).version, 1);
  await a.memory.set("state", "v2", { namespace: "ts", expected_version: 1 });
  assert.equal((await a.memory.get("state", { namespace: "ts" })).value, "v2");
  const listed = await a.memory.list({ namespace: "ts", prefix: "st" });
  assert.ok(JSON.stringify(listed).includes("state"));
  const batch = await a.memory.batch([
    { key: "b1", value: "1" },
    { key: "b2", value: "2" },
  ]);
  assert.ok(batch);
  await a.memory.setVisibility("state", "public", { namespace: "ts" });
  assert.equal((await b.memory.readFrom(a.agentId!, "state", { namespace: "ts" })).value, "v2");
  assert.ok(await a.memory.accessLog({ namespace: "ts" }));
  const history = await a.memory.history("state", { namespace: "ts" });
  assert.ok(JSON.stringify(history).includes("v1"));
  assert.equal((await a.memory.meta("state", { namespace: "ts" })).version, 2);
  await a.memory.delete("b1");
  await assert.rejects(a.memory.get("b1"), { name: "NotFoundError", status: 404 });
});

test("shared memory: set, namespaces, list, get, delete", async () => {
  const a = await agent("ts-shared");
  const ns = `ts-${a.agentId}`;
  await a.sharedMemory.set(ns, "greeting", "hello", { description: "a greeting", ttl_seconds: 600 });
  assert.ok(JSON.stringify(await a.sharedMemory.namespaces()).includes(ns));
  assert.ok(JSON.stringify(await a.sharedMemory.list(ns)).includes("greeting"));
  assert.equal((await a.sharedMemory.get(ns, "greeting")).value, "hello");
  await a.sharedMemory.delete(ns, "greeting");
  await assert.rejects(a.sharedMemory.get(ns, "greeting"), { status: 404 });
});

test("sessions and tiered memory", async () => {
  const a = await agent("ts-sessions");
  const session = await a.sessions.create({ title: "chat", max_tokens: 2000 });
  const id: string = session.session_id;
  assert.equal((await a.sessions.append(id, "user", "What is MoltGrid?")).status, "appended");
  await a.sessions.append(id, "assistant", "Infrastructure for agents.");
  assert.ok(JSON.stringify(await a.sessions.list()).includes(id));
  assert.equal((await a.sessions.get(id)).messages.length, 2);
  assert.ok(await a.sessions.summarize(id));
  await a.tiered.storeEvent(id, "the user likes TypeScript", { persist: true, note_key: "likes" });
  assert.ok(await a.tiered.recall("TypeScript", { k: 3 }));
  assert.ok(await a.tiered.summarize(id));
  await a.sessions.delete(id);
  await assert.rejects(a.sessions.get(id), { status: 404 });
});

test("vector memory: upsert, search, list, get, delete", async () => {
  const a = await agent("ts-vector");
  await a.vector.upsert("cats", "Cats are small furry animals that purr", { metadata: { kind: "pet" } });
  await a.vector.upsert("rust", "Rust is a systems programming language");
  const hits = await a.vector.search("a purring pet", { limit: 1 });
  assert.ok(JSON.stringify(hits).includes("cats"), JSON.stringify(hits));
  assert.ok(JSON.stringify(await a.vector.list()).includes("rust"));
  assert.equal((await a.vector.get("cats")).key, "cats");
  await a.vector.delete("cats");
  await assert.rejects(a.vector.get("cats"), { status: 404 });
});
