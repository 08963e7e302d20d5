-- pipeline.lua: orders.lua's flash sale with DEPTH requests pipelined per connection, for wrk.
--
-- Run (after bench/wrk/setup.sh, see orders.lua):
--   DEPTH=16 wrk -t1 -c64 -d8s --latency -s bench/wrk/pipeline.lua http://127.0.0.1:8080
-- Each connection sends DEPTH POST /orders back to back in one write and waits for the DEPTH
-- answers (HTTP/1.1 pipelining: the server answers them in order). wrk counts every answer as a
-- request; its latency is the time of the whole batch. Environment: as orders.lua, plus
--   DEPTH=16          requests per batch (default 16)

local product = tonumber(os.getenv("PRODUCT") or "1")
local users = tonumber(os.getenv("USERS") or "1000")
local quantity = tonumber(os.getenv("QUANTITY") or "1")
local depth = tonumber(os.getenv("DEPTH") or "16")

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
end

function request()
  local batch = {}
  for i = 1, depth do
    local body = string.format('{"user_id":%d,"items":[{"product_id":%d,"quantity":%d}]}',
                               math.random(1, users), product, quantity)
    batch[i] = wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
  end
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
  io.write("answers by status:\n")
  for status, n in pairs(total) do io.write(string.format("  %d: %d\n", status, n)) end
end
