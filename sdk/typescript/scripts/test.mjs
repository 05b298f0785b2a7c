#!/usr/bin/env node
// Runs the compiled suite (dist-test/) with Node's built-in test runner against the server(s) named by
// MOLTGRID_TEST_URLS (comma-separated gateway URLs; default http://127.0.0.1:8000). A suite still running
// after 4 minutes (a socket or stream a failed test left open keeps Node alive) is ended as failed.
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const result = spawnSync(process.execPath, ["--test", "--test-timeout=240000", resolve(root, "dist-test/all.test.js")], {
  stdio: "inherit",
  cwd: root,
});
process.exit(result.status ?? 1);
