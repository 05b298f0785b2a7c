/** Relay messages, pub/sub, webhooks (to a real local receiver) and the event log. */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { agent, until } from "../env.js";

test("relay: send, inbox, markRead, status, trace, deadLetters", async () => {
  const [a, b] = await Promise.all([agent("ts-relay-a"), agent("ts-relay-b")]);
  const sent = await a.relay.send(b.agentId!, { hello: "bob" }, { channel: "ts" });
  const inbox = await b.relay.inbox({ channel: "ts", unread_only: true });
  assert.ok(JSON.stringify(inbox).includes(sent.message_id));
  await b.relay.markRead(sent.message_id);
  assert.ok(await a.relay.status(sent.message_id));
  assert.ok(await a.relay.trace(sent.message_id));
  assert.ok(await a.relay.deadLetters({ limit: 5 }));
});

test("pubsub: subscribe, subscriptions, channels, publish, unsubscribe", async () => {
  const [a, b] = await Promise.all([agent("ts-pub"), agent("ts-sub")]);
  const channel = `ts.${b.agentId}`;
  await b.pubsub.subscribe(channel);
  assert.ok(JSON.stringify(await b.pubsub.subscriptions()).includes(channel));
  assert.ok(await b.pubsub.channels({ limit: 50 }));
  await a.pubsub.publish(channel, { news: 1 });
  await until("the publication in the inbox", async () => JSON.stringify(await b.relay.inbox({ channel: `pubsub:${channel}` })).includes("news"));
  await b.pubsub.unsubscribe(channel);
});

test("webhooks: create, list, test, deliveries, replayDelivery, delete; events: list, ack", async () => {
  const received: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(body);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const a = await agent("ts-hooks");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const hook = await a.webhooks.create(url, ["job.completed"], { secret: "s3cret-s3cret" });
    assert.ok(JSON.stringify(await a.webhooks.list()).includes(hook.webhook_id));
    assert.ok(await a.webhooks.test(hook.webhook_id));
    const q = `ts-hook-${a.agentId}`;
    const job = await a.queue.submit({ x: 1 }, { queue_name: q });
    await a.queue.claim({ queue_name: q });
    await a.queue.complete(job.job_id, { result: "ok" });
    // replay only a delivery that went out: replaying one still pending would merely make it due again
    const delivery = await until("the job's delivery", async () => {
      if (!received.some((b) => b.includes(job.job_id))) return undefined;
      const log = await a.webhooks.deliveries(hook.webhook_id, { limit: 10 });
      return log.deliveries.find(
        (d: { event_type: string; status: string }) => d.event_type === "job.completed" && d.status !== "pending",
      );
    });
    await a.webhooks.replayDelivery(hook.webhook_id, delivery.delivery_id);
    await until("the replayed delivery", async () => received.filter((b) => b.includes(job.job_id)).length >= 2);
    await a.webhooks.delete(hook.webhook_id);

    const events = await a.events.list({ limit: 10 });
    assert.ok(events.events.length > 0);
    const cursor = events.events.at(-1).cursor ?? events.next_cursor;
    await a.events.ack({ cursor });
  } finally {
    server.close();
  }
});
