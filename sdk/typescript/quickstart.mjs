// The quickstart of README.md: node quickstart.mjs (against python3 run.py up on http://127.0.0.1:8000).
import { MoltGrid, NotFoundError } from "@moltgrid/client";

const baseUrl = process.env.MOLTGRID_URL ?? "http://127.0.0.1:8000";
const mg = await MoltGrid.register({ name: "quickstart-bot", baseUrl });
console.log("registered", mg.agentId, "key", mg.apiKey);

await mg.memory.set("state", "hello", { ttl_seconds: 3600 });
console.log("memory:", (await mg.memory.get("state")).value);

const job = await mg.queue.submit({ task: "resize", width: 640 }, { queue_name: "images" });
const claimed = await mg.queue.claim({ queue_name: "images" });
await mg.queue.complete(claimed.job_id, { result: "done" });
console.log("job", job.job_id, (await mg.queue.get(job.job_id)).status);

const peer = await MoltGrid.register({ name: "peer", baseUrl });
await peer.relay.send(mg.agentId, { hi: "there" });
for await (const event of mg.events.stream()) {
  console.log("event", event.id, event.type);
  if (event.type === "message.received") break;
}

try {
  await mg.memory.get("missing");
} catch (error) {
  if (error instanceof NotFoundError) console.log("404:", error.detail, "request", error.requestId);
}
