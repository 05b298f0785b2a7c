/** A2A: a round trip between two hosted agents (the caller sends over the HTTP+JSON binding, the hosted agent
 * lists its tasks and answers through its own API), the task's stream resuming after a dropped connection,
 * blocking sends, cancel, the cards, and outside agents listed from a card a local server serves. */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { NotFoundError, type StreamEvent } from "@moltgrid/client";
import { agent, until } from "../env.js";

/** A real fetch whose first task stream is cut after its first event, like a dropped connection. */
function droppingFetch(): { fetch: typeof fetch; resumes: Array<string | null> } {
  const resumes: Array<string | null> = [];
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const request = input as Request;
    if (!request.url?.endsWith(":subscribe") || !response.body) return response;
    resumes.push(request.headers.get("Last-Event-ID"));
    if (resumes.length > 1) return response;
    const reader = response.body.getReader();
    let seen = "";
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        seen += new TextDecoder().decode(value);
        const end = seen.indexOf("\n\n");
        if (end < 0) return;
        controller.enqueue(new TextEncoder().encode(seen.slice(0, end + 2)));
        await reader.cancel();
        controller.close();
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: wrapped, resumes };
}

test("a2a: send, the hosted agent's tasks and updateStatus, task, stream with resume", async () => {
  const dropping = droppingFetch();
  const [caller, hosted] = await Promise.all([agent("ts-a2a-caller", { fetch: dropping.fetch }), agent("ts-a2a-hosted")]);
  const sent = await caller.a2a.send(hosted.agentId!, "translate: hello", { blocking: false });
  assert.equal(sent.status.state, "TASK_STATE_SUBMITTED");
  const inbox = await hosted.a2a.tasks({ state: "TASK_STATE_SUBMITTED" });
  assert.deepEqual(
    inbox.tasks.map((t: { id: string }) => t.id),
    [sent.id],
  );
  const events: StreamEvent[] = [];
  const following = (async () => {
    for await (const event of caller.a2a.stream(hosted.agentId!, sent.id, { reconnectDelayMs: 50 })) events.push(event);
  })();
  await until("the stream's first event", async () => events.length > 0);
  await hosted.a2a.updateStatus(sent.id, "TASK_STATE_WORKING");
  const done = await hosted.a2a.updateStatus(sent.id, "TASK_STATE_COMPLETED", {
    artifacts: [{ artifactId: "a1", parts: [{ text: "bonjour" }] }],
  });
  assert.equal(done.status.state, "TASK_STATE_COMPLETED");
  await following; // the stream ends with the task
  assert.equal(events[0]!.data.task.id, sent.id);
  assert.deepEqual(dropping.resumes, [null, events[0]!.id], "the reconnect sent Last-Event-ID");
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, "no event twice");
  assert.equal(events.at(-1)!.data.statusUpdate.status.state, "TASK_STATE_COMPLETED");
  assert.ok(events.some((e) => e.data.artifactUpdate?.artifact?.artifactId === "a1"));
  const read = await caller.a2a.task(hosted.agentId!, sent.id, { historyLength: 1 });
  assert.equal(read.status.state, "TASK_STATE_COMPLETED");
  assert.equal(read.artifacts[0].parts[0].text, "bonjour");
  // a resumed stream of an ended task has nothing after its last event and ends
  const after: StreamEvent[] = [];
  for await (const event of caller.a2a.stream(hosted.agentId!, sent.id, { after: events.at(-1)!.id })) after.push(event);
  assert.deepEqual(after, []);
  // a third agent does not see the task
  const stranger = await agent("ts-a2a-stranger");
  const hidden = await stranger.a2a.task(hosted.agentId!, sent.id).catch((e: unknown) => e);
  assert.ok(hidden instanceof NotFoundError, String(hidden));
  assert.equal(hidden.code, "TASK_NOT_FOUND");
});

test("a2a: a blocking send waits for the answer; cancel", async () => {
  const [caller, hosted] = await Promise.all([agent("ts-a2a-blocking"), agent("ts-a2a-answering")]);
  const waiting = caller.a2a.send(hosted.agentId!, { parts: [{ text: "ping" }], metadata: { n: 1 } });
  const task = await until("the task at the hosted agent", async () => (await hosted.a2a.tasks()).tasks[0]);
  await hosted.a2a.updateStatus(task.id, "TASK_STATE_COMPLETED", {
    message: { messageId: "r1", role: "ROLE_AGENT", parts: [{ text: "pong" }] },
  });
  const answered = await waiting;
  assert.equal(answered.id, task.id);
  assert.equal(answered.status.state, "TASK_STATE_COMPLETED");
  const other = await caller.a2a.send(hosted.agentId!, "never mind", { blocking: false });
  assert.equal((await caller.a2a.cancel(hosted.agentId!, other.id)).status.state, "TASK_STATE_CANCELED");
});

test("a2a: cards, agents, addAgent from a served card, removeAgent", async () => {
  const a = await agent("ts-a2a-cards");
  await a.directory.updateMe({ description: "card test", capabilities: ["ts-a2a"], public: true });
  const card = await a.a2a.card(a.agentId!);
  assert.ok(card.name, JSON.stringify(card));
  const hub = await a.a2a.hubCard();
  assert.ok(Array.isArray(hub.skills) && hub.skills.length > 0);
  const outside = {
    name: "Outside translator",
    description: "Not hosted here",
    supportedInterfaces: [{ url: "https://elsewhere.example/a2a", protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
    version: "1.0.0",
    capabilities: { streaming: false },
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [{ id: "translate", name: "Translate", description: "Any language", tags: ["lang"] }],
  };
  const server = createServer((_req, res) => res.setHeader("Content-Type", "application/json").end(JSON.stringify(outside)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/agent-card.json`;
    const listed = await a.a2a.addAgent(url);
    assert.equal(listed.valid, true, JSON.stringify(listed));
    const agents = await a.a2a.agents({ include_hosted: false, limit: 100 });
    assert.ok(agents.agents.some((x: { external_id?: string }) => x.external_id === listed.external_id));
    await a.a2a.removeAgent(listed.external_id);
    await assert.rejects(a.a2a.removeAgent(listed.external_id), { status: 404 });
  } finally {
    server.close();
  }
});
