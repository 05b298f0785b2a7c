/** The whole TypeScript client suite in one process (so that one recorder sees every call), ending with the
 * coverage check: every route of the live /openapi.json and of the gateway's routing table reached (or listed
 * in NOT_COVERED with why), every client method called. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MoltGrid, MoltGridAdmin } from "@moltgrid/client";
import { BASE_URL, called, reached, requested } from "./env.js";
import "./suites/a2a.js";
import "./suites/agents.js";
import "./suites/data.js";
import "./suites/errors.js";
import "./suites/live.js";
import "./suites/messaging.js";
import "./suites/work.js";

/** The gateway's own routes (kinds other than forward) no client method is for, and why (README, "Coverage"). */
export const NOT_COVERED: Record<string, string> = {
  "GET /openapi.json": "the document the types are generated from (scripts/generate.mjs)",
  "GET /docs": "Swagger UI, a page for browsers",
  "GET /docs/static": "Swagger UI's files",
  "GET /contact": "the contact form page (the form posts to /v1/contact: system.contact)",
  "GET /admin": "the admin panel's page (its data: MoltGridAdmin)",
  "GET /admin/login": "the admin panel's login page (MoltGridAdmin.login posts to /admin/api/login)",
  "* /mcp": "the MCP server, for MCP clients",
  "GET /v1/agents/{agent_id}/events": "1.0's path of the same stream as /v1/events/stream (events.stream)",
  "POST /a2a/{agent_id}": "A2A's JSON-RPC binding, for A2A SDKs; the client speaks its HTTP+JSON binding",
};

/** The gateway's routing table as the pytest wrapper passes it (`[[method, path, kind], …]`), if it does. */
function gatewayRoutes(): Array<[string, string, string]> {
  const given = process.env.MOLTGRID_TEST_ROUTES;
  return given ? (JSON.parse(given) as Array<[string, string, string]>) : [];
}

/** Whether a recorded `METHOD /concrete/path` is a request to the route `method path` (`{x}`, `{x:re}`). */
function matches(route: string, request: string): boolean {
  const [method, path] = route.split(" ") as [string, string];
  const [verb, concrete] = request.split(" ") as [string, string];
  if (method !== "*" && method !== verb) return false;
  const piece = (part: string): string => {
    if (!part.startsWith("{")) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    const colon = part.indexOf(":"); // `{tail:.+}`: the segment's own pattern
    return colon < 0 ? "[^/]+" : `(?:${part.slice(colon + 1, -1)})`;
  };
  const pattern = path.split(/(\{[^}]+\})/).map(piece).join("");
  return new RegExp(`^${pattern}$`).test(concrete);
}

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
  // the routes the gateway answers itself (streams, sockets, A2A, admin login) are outside /openapi.json
  const own = gatewayRoutes()
    .map(([method, path]) => `${method} ${path}`)
    .filter((r) => !(r.replace(/ .*/, "").toLowerCase() in (doc.paths[r.replace(/^\S+ /, "")] ?? {})));
  const exempt = own.filter((r) => r in NOT_COVERED);
  const missed = own.filter((r) => !(r in NOT_COVERED) && ![...requested].some((q) => matches(r, q)));
  assert.deepEqual(missed, [], `gateway routes no client method reached: ${missed.join(", ")}`);
  const stale = Object.keys(NOT_COVERED).filter((r) => own.length && !own.includes(r));
  assert.deepEqual(stale, [], `NOT_COVERED names routes the gateway no longer has: ${stale.join(", ")}`);
  const methods = clientMethods();
  const uncalled = methods.filter((m) => !called.has(m));
  assert.deepEqual(uncalled, [], `client methods no test called: ${uncalled.join(", ")}`);
  console.log(
    `# coverage: ${methods.length} methods; ${routes.length}/${routes.length} /openapi.json routes (+ aliases); ` +
      (own.length
        ? `${own.length - exempt.length}/${own.length} of the gateway's own routes (${exempt.length} not for this client)`
        : "the gateway's own routes unchecked (MOLTGRID_TEST_ROUTES unset)"),
  );
});
