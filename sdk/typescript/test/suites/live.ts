/** The live transports against the real gateways: the SSE iterator resuming after a dropped connection and
 * on another gateway, and the relay WebSocket pushing messages and reconnecting after a drop. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";
import { MoltGrid, type StreamEvent, type WebSocketConstructor } from "@moltgrid/client";
import { URLS, agent, called, recordingSocket, until } from "../env.js";

/** A real fetch whose first event-stream response is cut after its first event, like a dropped connection. */
function droppingFetch(): { fetch: typeof fetch; drops: () => number; streams: string[] } {
  let drops = 0;
  const streams: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const request = input as Request;
    if (!request.url?.includes("/v1/events/stream") || !response.body) return response;
    streams.push(request.headers.get("Last-Event-ID") ?? "");
    if (drops > 0) return response;
    drops++;
    const reader = response.body.getReader();
    let seen = "";
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        seen += new TextDecoder().decode(value);
        const first = /id: \d+[\s\S]*?\n\n/.exec(seen);
        if (!first) return; // the next pull reads on
        controller.enqueue(new TextEncoder().encode(seen.slice(0, first.index + first[0].length)));
        await reader.cancel();
        controller.close();
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: wrapped, drops: () => drops, streams };
}

test("events.stream: resumes after a dropped connection without loss or repeat, and on another gateway", async () => {
  const sender = await agent("ts-sse-sender");
  const dropping = droppingFetch();
  const reader = await agent("ts-sse-reader", { fetch: dropping.fetch });
  for (let i = 0; i < 3; i++) await sender.relay.send(reader.agentId!, { n: i });
  const seen: StreamEvent[] = [];
  for await (const event of reader.events.stream({ reconnectDelayMs: 50 })) {
    seen.push(event);
    if (seen.length === 3) break;
  }
  assert.equal(dropping.drops(), 1, "the first connection was cut");
  assert.deepEqual(dropping.streams, ["0", seen[0]!.id], "the reconnect sent Last-Event-ID");
  assert.deepEqual(
    seen.map((e) => e.type),
    ["message.received", "message.received", "message.received"],
  );
  assert.equal(new Set(seen.map((e) => e.id)).size, 3, "no event twice");
  // A later stream on the other gateway starts exactly after the cursor.
  await sender.relay.send(reader.agentId!, { n: 3 });
  const other = new MoltGrid({ apiKey: reader.apiKey!, baseUrl: URLS[1] ?? URLS[0]! });
  for await (const event of other.events.stream({ after: seen[2]!.id })) {
    assert.ok(Number(event.id) > Number(seen[2]!.id));
    assert.equal(event.type, "message.received");
    break;
  }
});

test("relay.connect: pushes messages, sends over the socket, reconnects after a drop", async () => {
  const sockets: NodeWebSocket[] = [];
  class Recording extends NodeWebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  const [a, b] = await Promise.all([agent("ts-ws-a"), agent("ts-ws-b")]);
  called.add("relay.connect");
  const opens: boolean[] = [];
  const socket = b.relay.connect({
    WebSocket: recordingSocket(Recording as unknown as WebSocketConstructor),
    reconnectDelayMs: 50,
    onOpen: (reconnected) => opens.push(reconnected),
  });
  await socket.opened;
  await a.relay.send(b.agentId!, { push: 1 });
  const first = await socket.next();
  assert.equal(first.event, "message.received");
  assert.deepEqual(first.payload, { push: 1 });
  socket.send(a.agentId!, { reply: true });
  assert.equal((await socket.next()).event, "message.sent");
  sockets[0]!.terminate(); // the connection drops without a close handshake
  await until("the reconnect", async () => opens.length === 2);
  assert.deepEqual(opens, [false, true]);
  await a.relay.send(b.agentId!, { push: 2 });
  assert.deepEqual((await socket.next()).payload, { push: 2 });
  assert.equal(socket.reconnects, 1);
  socket.close();
  assert.equal(await socket.next(), undefined);
});

test("events.connect: unacknowledged events first, live ones after, ack by id, resent after a reconnect", async () => {
  const [a, b] = await Promise.all([agent("ts-evws-a"), agent("ts-evws-b")]);
  await a.relay.send(b.agentId!, { before: 1 });
  called.add("events.connect");
  const socket = b.events.connect({ reconnectDelayMs: 50 });
  const again = { socket: undefined as ReturnType<typeof b.events.connect> | undefined };
  try {
    await socket.opened;
    const first = await socket.next();
    assert.equal(first.type, "event");
    assert.equal(first.payload.from_agent, a.agentId, JSON.stringify(first));
    await a.relay.send(b.agentId!, { live: 2 });
    const second = await socket.next();
    assert.equal(second.event_type, first.event_type);
    assert.notEqual(second.event_id, first.event_id);
    socket.ack([first.event_id]);
    // the acknowledgement is the server's once GET /v1/events no longer lists that event
    await until("the acknowledgement", async () => {
      const listed = await b.events.list({ limit: 50 });
      return !JSON.stringify(listed).includes(first.event_id);
    });
    socket.close();
    assert.equal(await socket.next(), undefined);
    again.socket = b.events.connect();
    const resent = await again.socket.next();
    assert.equal(resent.event_id, second.event_id, "the unacknowledged event is sent again, the acknowledged not");
  } finally {
    socket.close();
    again.socket?.close();
  }
});
