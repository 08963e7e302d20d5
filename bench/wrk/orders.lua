-- orders.lua: a flash sale on one hot SKU — POST /orders with random buyers, for wrk.
--
-- Setup (a running deployment, e.g. `flashsaga run --data ./data`; see bench/wrk/setup.sh and README.md):
--   bench/wrk/setup.sh http://127.0.0.1:8080 1000 10000   # 1000 buyers with money, 1 SKU of 10000 units
-- Run:
--   wrk -t1 -c64 -d30s -s bench/wrk/orders.lua http://127.0.0.1:8080
-- The same sale as `flashsaga bench flash-sale --driver http --connections 64`: bench/wrk/README.md.
-- Environment (optional):
--   PRODUCT=1         the hot SKU's id (default 1)
--   USERS=1000        buyers are ids 1..USERS (default 1000)
--   QUANTITY=1        units per order (default 1)
--   IDEMPOTENT=1      send an Idempotency-Key per request (unique: measures the table's cost)
--   DEPTH=16          pipeline: each connection sends DEPTH orders back to back in one write and
--                     waits for the DEPTH answers, in order (HTTP/1.1 pipelining). wrk counts every
--                     answer as a request; its latency is that of the whole batch. Default 1.
--   DELAY_MS=10       paced: each connection waits DELAY_MS after an answer before its next
--                     order, so the rate is at most connections x 1000 / DELAY_MS orders/s
--                     (bench/soak.sh). Default 0: closed loop, as fast as answers come.
--
-- At the end it prints "status N: COUNT" lines (bench/soak.sh reads them): 202 (accepted, stock
-- reserved), 409 (sold out: answered by the gateway's CAS, no IPC), 404/422 (unknown/blocked
-- buyers), 503 (overloaded); then socket errors and latency. Once the SKU is sold out, the run
-- measures the sold-out path, which is the common case of a real flash sale.

local product = tonumber(os.getenv("PRODUCT") or "1")
local users = tonumber(os.getenv("USERS") or "1000")
local quantity = tonumber(os.getenv("QUANTITY") or "1")
local idempotent = os.getenv("IDEMPOTENT") == "1"
local depth = tonumber(os.getenv("DEPTH") or "1")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

local threads = {}
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  sequence = 0
  math.randomseed(os.time() + (id or 0) * 7919)
  wrk.headers["Content-Type"] = "application/json"
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

local function one_order()
  local body = string.format('{"user_id":%d,"items":[{"product_id":%d,"quantity":%d}]}',
                             math.random(1, users), product, quantity)
  local headers = nil  -- wrk.headers
  if idempotent then
    sequence = sequence + 1
    headers = { ["Content-Type"] = "application/json",
                ["Idempotency-Key"] = string.format("wrk-%d-%d-%d", id or 0, os.time(), sequence) }
  end
  return wrk.format("POST", "/orders", headers, body)
end

function request()
  if depth == 1 then return one_order() end
  local batch = {}
  for i = 1, depth do batch[i] = one_order() end
  return table.concat(batch)
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
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         latency:percentile(99.9) / 1000))
end
