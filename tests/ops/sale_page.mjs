// sale_page.mjs: drives the live sale page (GET /) in headless Chromium with playwright-core,
// for tests/ops/sale_page_test.cc.
//
//   node sale_page.mjs --npm DIR --url http://127.0.0.1:PORT --chromium /usr/bin/chromium
//        --interval MS --screenshot FILE.png --progress FILE --settled FILE
//
// 1. Loads the page, writes "loaded" to --progress (the test then starts the sale's load) and
//    waits (bounded) until its numbers change: orders admitted grow and the hot product's stock
//    falls. Lets the hot product sell out (bounded), takes the screenshot, then writes "changed"
//    to --progress.
// 2. Waits (bounded) for --settled to appear (the test stopped the load and every saga ended),
//    lets the page take two more samples, and checks every number it shows against GET /metrics.
// Any request the page makes to another origin fails the run. Exit 0 when all holds; 1 with
// each difference printed; 77 when Chromium cannot start.
import {appendFileSync, existsSync} from "node:fs";
import {createRequire} from "node:module";
import path from "node:path";

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const base = arg("--url");
const interval = Number(arg("--interval") || 250);
const require = createRequire(path.join(path.resolve(arg("--npm")), "package.json"));
const {chromium} = require("playwright-core");
const problems = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return samples;
}

// Prometheus' histogram_quantile over cumulative buckets [{le, count}], as the gateway computes it.
function quantile(q, buckets) {
  const total = buckets[buckets.length - 1].count;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const b of buckets) {
    if (b.le === Infinity) return prevLe;
    if (b.count >= rank && b.count > prevCount)
      return prevLe + (b.le - prevLe) * (rank - prevCount) / (b.count - prevCount);
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// The page's own formatting of seconds (sale_page.html).
function seconds(s) {
  if (s === null) return "\u2013";
  return s < 1 ? (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms" : s.toFixed(2) + " s";
}

async function readPage(page) {
  return page.evaluate(() => {
    const t = (id, root = document) =>
        root.querySelector(`[data-testid="${id}"]`)?.textContent ?? null;
    const products = {};
    for (const tr of document.querySelectorAll("#products tr")) {
      const cell = (c) => tr.querySelector(`[data-testid="product-${c}"]`);
      products[tr.dataset.product] = {
        available: cell("available").querySelector(".n").textContent,
        total: cell("available").querySelector(".total").textContent,
        reserved: cell("reserved").textContent,
        sold: cell("sold").textContent,
        admittedRate: cell("admitted-rate").textContent,
        completedRate: cell("completed-rate").textContent,
      };
    }
    const domains = {};
    for (const el of document.querySelectorAll("[data-domain]"))
      domains[el.dataset.domain] = t("domain-state", el);
    return {
      samples: Number(document.body.dataset.samples || 0),
      intake: t("intake"),
      admitted: t("admitted"),
      completed: t("completed"),
      cancelled: t("cancelled"),
      soldOut: t("sold-out"),
      admittedRate: t("admitted-rate"),
      p50: t("p50"),
      p99: t("p99"),
      products,
      domains
    };
  });
}

function expectEqual(what, shown, want) {
  if (String(shown) !== String(want))
    problems.push(`${what}: the page shows ${shown}, /metrics says ${want}`);
}

async function openPage() {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: arg("--chromium"),
      headless: true,
      timeout: 60000,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"
      ]
    });
  } catch (e) {
    console.log(`SKIPPED: chromium does not start here: ${e.message.split("\n")[0]}`);
    process.exit(77);
  }
  const page = await browser.newPage({viewport: {width: 1280, height: 640}});
  current = page;
  const origin = new URL(base).origin;
  const foreign = [];
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (new URL(u).origin === origin) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  page.on("pageerror", (e) => problems.push(`the page threw: ${e.message}`));
  await page.goto(`${base}/?interval=${interval}`);
  return {browser, page, foreign};
}

// 1. During the sale: the numbers change.
async function duringTheSale(page) {
  const first = await until("two samples", async () => {
    const s = await readPage(page);
    return s.samples >= 2 && s;
  }, 20000);
  appendFileSync(arg("--progress"), "loaded\n");
  const hot = Object.keys(first.products)[0];
  if (!hot) throw new Error(`no product on sale on the page: ${JSON.stringify(first)}`);
  await until("the numbers to change", async () => {
    const s = await readPage(page);
    return Number(s.admitted) > Number(first.admitted) &&
        Number(s.products[hot]?.available) < Number(first.products[hot].available) &&
        Number(s.admittedRate) > 0 && s;
  }, 30000);
  // The hot product selling out makes a telling picture (sold-out answers flowing); not required.
  const soldOut = async () => (await readPage(page)).products[hot]?.available === "0";
  await until("the hot product to sell out", soldOut, 20000).catch(() => {});
  await sleep(2 * interval);
  await page.screenshot({path: arg("--screenshot"), fullPage: true});
  appendFileSync(arg("--progress"), "changed\n");
  console.log(`the page's numbers changed during the sale (admitted from ${first.admitted}; ` +
              `product ${hot}'s stock fell)`);
}

function sagaBuckets(m) {
  return [...m.entries()]
      .filter(([k]) => k.startsWith("flashsaga_saga_completion_seconds_bucket{"))
      .map(([k, v]) => {
        const le = k.includes("\"+Inf\"") ? Infinity : Number(k.match(/le="([^"]+)"/)[1]);
        return {le, count: v};
      })
      .sort((a, b) => a.le - b.le);
}

// 2. After the sale settled: what the page shows is what /metrics says.
async function afterTheSale(page) {
  await until("the settled signal", async () => existsSync(arg("--settled")), 120000);
  const before = (await readPage(page)).samples;
  await until("two more samples", async () => (await readPage(page)).samples >= before + 2, 20000);
  const shown = await readPage(page);
  const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  expectEqual("orders admitted", shown.admitted, m.get("flashsaga_orders_admitted_total"));
  expectEqual("orders completed", shown.completed, m.get("flashsaga_orders_completed_total"));
  expectEqual("orders cancelled", shown.cancelled, m.get("flashsaga_orders_cancelled_total"));
  expectEqual("sold-out answers", shown.soldOut, m.get("flashsaga_sold_out_answers_total"));
  expectEqual("admitted / s after the sale", shown.admittedRate, "0.0");
  const open = m.get("flashsaga_intake_open") === 1;
  expectEqual("intake", shown.intake, open ? "intake open" : "intake paused");
  for (const [id, p] of Object.entries(shown.products)) {
    const l = `{product="${id}"}`;
    expectEqual(`product ${id} stock left`, p.available, m.get(`flashsaga_stock_available${l}`));
    expectEqual(`product ${id} stock total`, p.total, m.get(`flashsaga_stock_supplied${l}`));
    expectEqual(`product ${id} admitted / s after the sale`, p.admittedRate, "0.0");
  }
  const names = ["down", "starting", "recovering", "ready", "degraded"];
  for (const [d, state] of Object.entries(shown.domains))
    expectEqual(`domain ${d}`, state, names[m.get(`flashsaga_domain_state{domain="${d}"}`)]);
  if (Object.keys(shown.domains).length !== 6)
    problems.push(`the page shows ${Object.keys(shown.domains).length} domains`);
  expectEqual("saga p50", shown.p50, seconds(quantile(0.5, sagaBuckets(m))));
  expectEqual("saga p99", shown.p99, seconds(quantile(0.99, sagaBuckets(m))));
  return shown;
}

async function main() {
  const {browser, page, foreign} = await openPage();
  await duringTheSale(page);
  const shown = await afterTheSale(page);
  if (foreign.length)
    problems.push(`the page tried to fetch from elsewhere: ${foreign.join(", ")}`);
  await browser.close();
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`sale_page.mjs: admitted ${shown.admitted}, completed ${shown.completed}, ` +
              `cancelled ${shown.cancelled}, sold out ${shown.soldOut}, p50 ${shown.p50}, ` +
              `p99 ${shown.p99}; ${problems.length} differences`);
  process.exit(problems.length ? 1 : 0);
}

let current = null;  // the page, for the message of a failure
main().catch(async (e) => {
  console.log(`sale_page.mjs: ${e.stack || e}`);
  if (current)
    console.log(`the page shows: ${JSON.stringify(await readPage(current).catch(() => null))}`);
  process.exit(1);
});
