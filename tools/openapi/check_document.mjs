// check_document.mjs: docs/openapi.json is a valid OpenAPI 3.1 document (checked against the
// OpenAPI Initiative's 3.1 schema by @seriousme/openapi-schema-validator, with every $ref
// resolved) and as strict as the gateway's answers are fixed: every object schema of a
// response body forbids unknown members (or says additionalProperties: true outright) and names its
// required ones, and every operation lists the gateway's generic answers (400, 431, 500, 503).
//
//   node check_document.mjs --npm DIR docs/openapi.json
// Exit 0 when it holds; 1 with each problem printed.
import {readFileSync} from "node:fs";
import {createRequire} from "node:module";
import path from "node:path";

const args = process.argv.slice(2);
const npmAt = args.indexOf("--npm");
if (npmAt < 0 || args.length !== 3) {
  console.error("usage: node check_document.mjs --npm DIR OPENAPI.json");
  process.exit(2);
}
const npmDir = args[npmAt + 1];
const file = args.find((a, i) => i !== npmAt && i !== npmAt + 1);
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const {Validator} = await import(require.resolve("@seriousme/openapi-schema-validator"));

const problems = [];
const validator = new Validator();
const result = await validator.validate(file);
if (!result.valid)
  problems.push(`not a valid OpenAPI 3.1 document: ${JSON.stringify(result.errors, null, 1)}`);
const doc = JSON.parse(readFileSync(file, "utf8"));
if (!String(doc.openapi).startsWith("3.1.")) problems.push(`openapi is ${doc.openapi}, not 3.1.x`);

const schemas = doc.components.schemas;
const resolve = (s) => (s && s.$ref ? schemas[s.$ref.split("/").pop()] : s);
const seen = new Set();
function strict(s, where) {
  s = resolve(s);
  if (!s || typeof s !== "object" || seen.has(s)) return;
  seen.add(s);
  const types = [].concat(s.type || []);
  if (types.includes("object") && s.properties) {
    // `additionalProperties: true` is an explicit choice (the document itself); absent is not.
    if (s.additionalProperties === undefined)
      problems.push(`${where}: an object that allows unknown members`);
    if (!Array.isArray(s.required)) problems.push(`${where}: an object without a required list`);
  }
  for (const [k, v] of Object.entries(s.properties || {})) strict(v, `${where}.${k}`);
  if (s.items) strict(s.items, `${where}[]`);
  for (const key of ["oneOf", "anyOf", "allOf"])
    for (const [i, v] of (s[key] || []).entries()) strict(v, `${where}/${key}${i}`);
}
const generic = ["400", "431", "500", "503"];
for (const [p, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (method === "parameters" || method === "head") continue;
    for (const code of generic)
      if (!op.responses[code]) problems.push(`${method.toUpperCase()} ${p}: no ${code} answer`);
    for (const [code, r] of Object.entries(op.responses)) {
      const resp = r.$ref ? doc.components.responses[r.$ref.split("/").pop()] : r;
      const json = resp.content && resp.content["application/json"];
      if (json) strict(json.schema, `${method.toUpperCase()} ${p} ${code}`);
    }
  }
}
for (const p of problems) console.log(`FAIL ${p}`);
console.log(
    `check_document.mjs: ${Object.keys(doc.paths).length} paths, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
