// validate.mjs: checks recorded HTTP exchanges against docs/openapi.json with Stoplight Prism.
//
//   node validate.mjs --doc docs/openapi.json --npm DIR exchanges.jsonl [more.jsonl ...]
//
// DIR holds the node_modules that tools/openapi/package.json pins (npm ci there).
//
// Each JSONL line is one exchange the gateway answered in a test:
//   {"method","target","status","headers":{lower-case name: value},"body"}
// (method "" when the request was not parseable HTTP). A tiny upstream on 127.0.0.1 answers
// each request with its recorded answer; `prism proxy --errors --validate-request false`
// stands between it and this script, so Prism (not code of ours) routes every request to its
// operation and checks the status, the headers and the body against the document. Prism
// answers a violation with its own error instead of the upstream's answer.
//
// Exchanges Prism cannot route (a path or method the document has no operation for, a path
// with an empty segment, a method OpenAPI has no name for, or bytes that are not HTTP) must be
// errors: they are checked with Ajv (JSON Schema 2020-12) against the document's own error schema
// (404 not_found, 405 method_not_allowed with Allow, 400 bad_request, 413/431 too_large, 503
// overloaded).
//
// HEAD exchanges are counted and not checked: Prism parses a HEAD answer's empty body as JSON.
//
// Exit 0 when every exchange conforms; 1 with each violation printed; 2 on a usage or setup
// error.
import {spawn} from "node:child_process";
import {readFileSync} from "node:fs";
import http from "node:http";
import {createRequire} from "node:module";
import path from "node:path";

const exchangesMax = 200000;  // a bound on what one run reads
const parallel = 8;
const prismStartMs = 60000;
const requestTimeoutMs = 30000;

function usage(message) {
  console.error(`validate.mjs: ${message}`);
  console.error("usage: node validate.mjs --doc OPENAPI.json --npm DIR FILE.jsonl...");
  process.exit(2);
}

function parseArgs(argv) {
  const out = {files: []};
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "--doc")
      out.doc = argv[++i];
    else if (argv[i] === "--npm")
      out.npm = argv[++i];
    else
      out.files.push(argv[i]);
  }
  if (!out.doc || !out.npm || out.files.length === 0) usage("missing arguments");
  return out;
}

function readExchanges(files) {
  const all = [];
  for (const f of files) {
    const lines = readFileSync(f, "utf8").split("\n");
    for (const [n, line] of lines.entries()) {
      if (!line.trim()) continue;
      if (all.length >= exchangesMax) usage(`more than ${exchangesMax} exchanges`);
      let e;
      try {
        e = JSON.parse(line);
      } catch (err) {
        usage(`${f}:${n + 1}: not JSON: ${err.message}`);
      }
      e.where = `${path.basename(f)}:${n + 1}`;
      all.push(e);
    }
  }
  return all;
}

// Ajv over the document's component schemas, for the exchanges Prism cannot route.
function errorChecker(doc, require) {
  const Ajv2020 = require("ajv/dist/2020").default;
  const addFormats = require("ajv-formats").default;
  const ajv = new Ajv2020({allErrors: true, strict: false});
  addFormats(ajv);
  const text =
      JSON.stringify(doc.components.schemas).replaceAll("#/components/schemas/", "#/$defs/");
  ajv.addSchema({$id: "flashsaga", $defs: JSON.parse(text)});
  const validate = ajv.compile({$ref: "flashsaga#/$defs/Error"});
  const expected = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    431: "too_large",
    503: "overloaded"
  };
  return (e) => {
    const problems = [];
    if (!(e.status in expected))
      return [`status ${e.status} on a request no operation of the document takes`];
    if (!String(e.headers["content-type"] || "").startsWith("application/json"))
      problems.push(`content-type ${e.headers["content-type"]} is not application/json`);
    let body;
    try {
      body = JSON.parse(e.body);
    } catch {
      return [...problems, "the body is not JSON"];
    }
    if (!validate(body))
      problems.push(...validate.errors.map((x) => `body${x.instancePath} ${x.message}`));
    else if (body.error !== expected[e.status])
      problems.push(`error "${body.error}" with status ${e.status}`);
    if (e.status === 405 && !e.headers["allow"]) problems.push("405 without an Allow header");
    if (e.status === 503 && !e.headers["retry-after"]) problems.push("503 without Retry-After");
    return problems;
  };
}

function startUpstream(exchanges) {
  const server = http.createServer((req, res) => {
    const e = exchanges[Number(req.headers["x-replay-index"])];
    req.resume();
    if (!e) {
      res.writeHead(599, {"content-type": "text/plain"});
      return res.end("no such recorded exchange");
    }
    const headers = {};
    for (const [k, v] of Object.entries(e.headers || {}))
      if (k !== "content-length") headers[k] = v;
    res.writeHead(e.status, headers);
    res.end(req.method === "HEAD" ? undefined : e.body);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function startPrism(prismJs, doc, upstreamPort) {
  return new Promise((resolve, reject) => {
    const child = spawn(
        process.execPath,
        [
          prismJs, "proxy", doc, `http://127.0.0.1:${upstreamPort}`, "--errors",
          "--validate-request", "false", "-h", "127.0.0.1", "-p", "0"
        ],
        {stdio: ["ignore", "pipe", "pipe"], env: {...process.env, SCARF_ANALYTICS: "false"}});
    let log = "";
    const timer = setTimeout(() => reject(new Error(`prism did not start:\n${log}`)), prismStartMs);
    const onData = (chunk) => {
      log += chunk;
      const m = log.match(/Prism is listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({child, port: Number(m[1])});
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`prism exited (${code}):\n${log}`)));
  });
}

function send(port, e, index) {
  return new Promise((resolve) => {
    let req;
    try {
      req = http.request(
          {
            host: "127.0.0.1",
            port,
            method: e.method,
            path: sendable(e.target),
            timeout: requestTimeoutMs,
            headers: {"x-replay-index": String(index), connection: "close"}
          },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({status: res.statusCode, headers: res.headers, body}));
          });
    } catch (err) {
      return resolve({error: err.message});  // bytes Node will not send (raw test input)
    }
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err) => resolve({error: err.message}));
    req.end();
  });
}

const openapiMethods =
    new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"]);

// The target with every byte Node will not put in a request line percent-encoded (fuzzed
// input): routing does not change, and Prism sees what the gateway parsed.
function sendable(target) {
  return String(target).replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}

// Whether an OpenAPI path template could match the path at all: one with an empty segment
// ("//users", "/users/") cannot, and Prism routes such paths unpredictably (to "/", or fails).
function templatable(target) {
  const p = String(target).split("?")[0];
  return p === "/" || (p.startsWith("/") && !p.slice(1).split("/").includes(""));
}

// What Prism said about one exchange: [] when it passed the upstream's answer through unchanged.
function verdict(e, r, checkError) {
  if (r.error)
    return {unroutable: true, problems: checkError(e), note: `not sendable over HTTP (${r.error})`};
  const type = String(r.headers["content-type"] || "");
  if (type.startsWith("application/problem+json")) {
    let p = {};
    try {
      p = JSON.parse(r.body);
    } catch {
    }
    if (/NO_PATH_MATCHED|NO_METHOD_MATCHED|NO_SERVER_MATCHED/.test(String(p.type)))
      return {unroutable: true, problems: checkError(e), note: p.title};
    const details =
        (p.validation || []).map((v) => `${(v.location || []).join(".")}: ${v.message}`);
    return {
      problems: [
        `${p.title || "prism error"}${details.length ? ":\n      " + details.join("\n      ") : ""}`
      ]
    };
  }
  const problems = [];
  if (r.status !== e.status) problems.push(`prism answered ${r.status}, the gateway ${e.status}`);
  if (r.headers["sl-violations"]) problems.push(`violations: ${r.headers["sl-violations"]}`);
  return {problems};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const doc = JSON.parse(readFileSync(args.doc, "utf8"));
  const exchanges = readExchanges(args.files);
  const require = createRequire(path.join(path.resolve(args.npm), "package.json"));
  const checkError = errorChecker(doc, require);
  const prismJs = require.resolve("@stoplight/prism-cli/dist/index.js");
  const upstream = await startUpstream(exchanges);
  const prism = await startPrism(prismJs, args.doc, upstream.address().port);
  let failed = 0, unroutable = 0, heads = 0, next = 0;
  const check = async (e, i) => {
    if (!e.method) return {unroutable: true, problems: checkError(e), note: "not HTTP"};
    if (!openapiMethods.has(e.method))
      return {unroutable: true, problems: checkError(e), note: "no such method in OpenAPI"};
    if (!templatable(e.target))
      return {unroutable: true, problems: checkError(e), note: "no path template matches it"};
    // Prism parses the empty body of a HEAD answer as JSON and fails: HEAD is not checked.
    if (e.method === "HEAD") return {head: true, problems: []};
    return verdict(e, await send(prism.port, e, i), checkError);
  };
  const worker = async () => {
    while (next < exchanges.length) {
      const i = next++;
      const e = exchanges[i];
      const v = await check(e, i);
      if (v.unroutable) ++unroutable;
      if (v.head) ++heads;
      if (v.problems.length === 0) continue;
      ++failed;
      const note = v.note ? ` [${v.note}]` : "";
      console.log(`FAIL ${e.where}: ${e.method || "(raw)"} ${e.target} -> ${e.status}${note}`);
      for (const p of v.problems) console.log(`    ${p}`);
      console.log(`    body: ${String(e.body).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({length: parallel}, worker));
  prism.child.kill("SIGTERM");
  upstream.close();
  const byPrism = exchanges.length - unroutable - heads;
  console.log(`validate.mjs: ${exchanges.length} exchanges, ${byPrism} checked by Prism, ` +
              `${unroutable} against the error schema (no operation for them), ${heads} HEAD ` +
              `not checked; ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`validate.mjs: ${err.stack || err}`);
  process.exit(2);
});
