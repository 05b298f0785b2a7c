/** The whole TypeScript client suite in one process (so that one recorder sees every call), ending with the
 * coverage check: every route of the live /openapi.json reached, every client method called. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MoltGrid, MoltGridAdmin } from "../src/index.js";
import { BASE_URL, called, reached } from "./env.js";
import "./suites/agents.js";
import "./suites/data.js";
import "./suites/errors.js";
import "./suites/live.js";
import "./suites/messaging.js";
import "./suites/work.js";

/** Every public method of the client: `group.method` per group of a MoltGrid, `admin.method`, and the statics. */
export function clientMethods(): string[] {
  const mg = new MoltGrid();
  const names = ["MoltGrid.register", "MoltGridAdmin.login"];
  for (const [group, value] of Object.entries(mg)) {
    if (!value || typeof value !== "object" || !("transport" in value)) continue;
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(value))) {
      if (name !== "constructor") names.push(`${group}.${name}`);
    }
  }
  const admin = Object.create(MoltGridAdmin.prototype) as object;
  for (const name of Object.getOwnPropertyNames(MoltGridAdmin.prototype)) {
    if (name !== "constructor") names.push(`admin.${name}`);
  }
  for (const [name, value] of Object.entries(new (MoltGridAdmin as unknown as new (t: unknown) => object)({ api: {} }))) {
    if (typeof value === "function") names.push(`admin.${name}`);
  }
  void admin;
  return names.sort();
}

test("coverage: every route of /openapi.json is reached and every client method called", async () => {
  const doc = (await (await fetch(`${BASE_URL}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { operationId: string }>>;
  };
  const routes: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      // an alias (the same operation behind a second path) is covered by its primary path
      if (!op.operationId.endsWith("_alias")) routes.push(`${method.toUpperCase()} ${path}`);
    }
  }
  const unreached = routes.filter((r) => !reached.has(r));
  assert.deepEqual(unreached, [], `routes no client method reached: ${unreached.join(", ")}`);
  const methods = clientMethods();
  const uncalled = methods.filter((m) => !called.has(m));
  assert.deepEqual(uncalled, [], `client methods no test called: ${uncalled.join(", ")}`);
  console.log(`# coverage: ${methods.length} methods, ${routes.length}/${routes.length} routes (+ aliases)`);
});
