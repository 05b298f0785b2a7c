/** Directory, presence and onboarding, the system routes, and the admin client. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MoltGrid, MoltGridAdmin } from "@moltgrid/client";
import { ADMIN_PASSWORD, BASE_URL, agent, called, recording, tracked } from "../env.js";

test("directory: profile, status, presence, discovery, collaborations, templates, key rotation", async () => {
  const [a, b] = await Promise.all([agent("ts-dir-a"), agent("ts-dir-b")]);
  await a.directory.updateMe({ description: "TypeScript test agent", capabilities: ["ts-testing"], public: true });
  assert.equal((await a.directory.me()).agent_id, a.agentId);
  await a.directory.updateStatus({ available: true, looking_for: ["work"] });
  await a.directory.registerCapabilities({ role: "worker", capabilities: ["ts-testing"], skills: ["typescript"] });
  await a.directory.heartbeat({ status: "online" });
  assert.ok(await a.directory.stats());
  await a.directory.startOnboarding();
  assert.ok(await a.directory.onboardingStatus());
  assert.ok(JSON.stringify(await a.directory.browse({ capability: "ts-testing" })).includes(a.agentId!));
  assert.ok(await a.directory.search({ capability: "ts-testing" }));
  assert.ok(await a.directory.match("typescript testing"));
  await a.directory.collaborate({ partner_agent: b.agentId!, outcome: "success", rating: 5, task_type: "review" });
  assert.ok(JSON.stringify(await b.directory.collaborations()).includes(a.agentId!));
  assert.equal((await b.directory.profile(a.agentId!)).agent_id, a.agentId);
  assert.ok(await b.directory.card(a.agentId!));
  assert.ok(await b.directory.leaderboard({ limit: 5 }));
  assert.ok(await b.directory.publicStats());
  assert.ok(await b.directory.network());
  const templates = await b.directory.templates();
  const first = (templates.templates ?? templates)[0];
  assert.ok(await b.directory.template(first.template_id ?? first.id));
  const rotated = await b.directory.rotateKey();
  await assert.rejects(b.directory.me(), { name: "AuthenticationError", status: 401 });
  const renewed = new MoltGrid({ apiKey: rotated.api_key, baseUrl: BASE_URL });
  assert.equal((await renewed.directory.me()).agent_id, b.agentId);
});

test("system: root, health, metrics, sla, contact", async () => {
  const mg = tracked(new MoltGrid({ baseUrl: BASE_URL, fetch: recording() }));
  assert.equal((await mg.system.root()).service, "MoltGrid");
  assert.ok((await mg.system.health()).status);
  assert.match(await mg.system.metrics(), /# TYPE/);
  assert.ok(await mg.system.sla());
  assert.ok(await mg.system.contact({ email: "ts@example.org", message: "Hello from the TypeScript client" }));
});

test("admin: login, every list, one agent, reveal, delete, logout", async () => {
  assert.ok(ADMIN_PASSWORD, "MOLTGRID_TEST_ADMIN_PASSWORD is set by the pytest wrapper");
  await assert.rejects(MoltGridAdmin.login({ baseUrl: BASE_URL, password: "wrong" }), { status: 401 });
  called.add("MoltGridAdmin.login");
  const admin = tracked(
    await MoltGridAdmin.login({ baseUrl: BASE_URL, password: ADMIN_PASSWORD, fetch: recording() }),
    "admin.",
  );
  const victim = await agent("ts-admin-victim");
  await victim.memory.set("secret", "s");
  assert.ok(await admin.dashboard());
  assert.ok(await admin.sla());
  for (const list of [
    admin.agents,
    admin.memory,
    admin.sharedMemory,
    admin.contact,
    admin.messages,
    admin.webhooks,
    admin.queue,
    admin.schedules,
    admin.collaborations,
    admin.marketplace,
    admin.scenarios,
  ]) {
    assert.ok(await list({ limit: 5 }));
  }
  assert.equal((await admin.agent(victim.agentId!)).agent_id ?? victim.agentId, victim.agentId);
  assert.equal((await admin.revealMemory(victim.agentId!, "default", "secret")).value, "s");
  await admin.deleteAgent(victim.agentId!);
  await assert.rejects(victim.memory.get("secret"), { status: 401 });
  await admin.logout();
  await assert.rejects(admin.dashboard(), { status: 401 });
});
