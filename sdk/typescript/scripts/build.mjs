#!/usr/bin/env node
// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with declarations, from src/ with tsc; with
// --tests also compiles test/ into dist-test/ (the tests import the package by its name, so they run against
// dist/esm as it ships). Each dist folder gets a package.json naming its module type. The ESM build type-checks
// src/; the CommonJS build of the same files skips the repeated check (--noCheck), about a third of the time.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const run = (project, ...flags) =>
  execFileSync(process.execPath, [tsc, "-p", resolve(root, project), ...flags], { stdio: "inherit" });

rmSync(resolve(root, "dist"), { recursive: true, force: true });
for (const [project, dir, type, flags] of [
  ["tsconfig.esm.json", "dist/esm", "module", []],
  ["tsconfig.cjs.json", "dist/cjs", "commonjs", ["--noCheck"]],
]) {
  run(project, ...flags);
  mkdirSync(resolve(root, dir), { recursive: true });
  writeFileSync(resolve(root, dir, "package.json"), `${JSON.stringify({ type })}\n`);
}
if (process.argv.includes("--tests")) {
  rmSync(resolve(root, "dist-test"), { recursive: true, force: true });
  run("tsconfig.test.json");
}
