#!/usr/bin/env node
// Runs the compiled suite (dist-test/) with Node's built-in test runner against the server(s) named by
// MOLTGRID_TEST_URLS (comma-separated gateway URLs; default http://127.0.0.1:8000).
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const result = spawnSync(process.execPath, ["--test", resolve(root, "dist-test/test/all.test.js")], {
  stdio: "inherit",
  cwd: root,
});
process.exit(result.status ?? 1);
