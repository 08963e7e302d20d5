// openapi_drift_test.mjs: the validator (tools/openapi/validate.mjs, Stoplight Prism) fails on
// answers that drift from docs/openapi.json and passes the ones that conform. Each line of the
// cases file is a recorded exchange plus {"expect": "pass"|"fail", "why": "..."}.
//
//   node openapi_drift_test.mjs --npm DIR --doc docs/openapi.json --cases cases.jsonl
import {spawnSync} from "node:child_process";
import {readFileSync} from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const here = path.dirname(fileURLToPath(import.meta.url));
const validate = path.join(here, "..", "..", "tools", "openapi", "validate.mjs");
const casesFile = arg("--cases");
const cases =
    readFileSync(casesFile, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
const run = spawnSync(
    process.execPath, [validate, "--doc", arg("--doc"), "--npm", arg("--npm"), casesFile],
    {encoding: "utf8", timeout: 300000});
if (run.status !== 0 && run.status !== 1) {
  console.log(run.stdout, run.stderr);
  console.log(`openapi_drift_test: the validator could not run (exit ${run.status})`);
  process.exit(1);
}
const failed = new Set([...run.stdout.matchAll(/^FAIL [^:]+:(\d+):/gm)].map((m) => Number(m[1])));
let wrong = 0;
for (const [i, c] of cases.entries()) {
  const got = failed.has(i + 1) ? "fail" : "pass";
  const ok = got === c.expect;
  if (!ok) ++wrong;
  console.log(`${ok ? "ok  " : "WRONG"} line ${i + 1}: expected ${c.expect}, validator said ${
      got}: ${c.why}`);
}
if (wrong) console.log(run.stdout);
const fails = cases.filter((c) => c.expect === "fail").length;
console.log(`openapi_drift_test: ${cases.length - wrong} of ${cases.length} as expected (${
    fails} drifts must fail)`);
process.exit(wrong === 0 && run.status === 1 ? 0 : 1);
