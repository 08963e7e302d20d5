-- paced.lua: POST /orders at a bounded rate, for wrk (used by bench/soak.sh).
--
-- Each connection sends one order, reads its answer, then waits DELAY_MS before the next, so
-- the rate is at most connections x 1000 / DELAY_MS orders/s (less when answers are slow).
-- Environment: PRODUCT (default 1), USERS (default 1000), DELAY_MS (default 10).
-- At the end it prints "status N: COUNT" lines, which soak.sh reads.

local product = tonumber(os.getenv("PRODUCT") or "1")
local users = tonumber(os.getenv("USERS") or "1000")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "10")

local threads = {}
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  math.randomseed(os.time() + (id or 0) * 7919)
  wrk.headers["Content-Type"] = "application/json"
end

function delay()
  return delay_ms
end

function request()
  local body = string.format('{"user_id":%d,"items":[{"product_id":%d,"quantity":1}]}',
                             math.random(1, users), product)
  return wrk.format("POST", "/orders", nil, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c or {}) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("status %d: %d\n", status, n)) end
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
                         summary.errors.connect, summary.errors.read, summary.errors.write,
                         summary.errors.timeout))
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
