-- Loads the catalog and the buyers the way `flashsaga bench` does (bench/harness.cc):
-- SKU i (1-based) costs 1000 + ((i-1) % 100) * 10 and holds ARGV[2] units; every buyer has a
-- wallet of 1e9, 10,000 points when points are used, and one 10%-off coupon (max 500) when
-- coupons are used. With a Zipf exponent > 0 the SKU popularity CDF goes into the sorted set
-- `zipf` (score = cumulative probability, member = SKU), for order.lua to sample.
-- ARGV: skus stock buyers max_per_user with_points(0/1) with_coupons(0/1) zipf_s
local skus, stock, buyers = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, with_points, with_coupons = tonumber(ARGV[4]), ARGV[5] == '1', ARGV[6] == '1'
local s = tonumber(ARGV[7])
for i = 1, skus do
  redis.call('SET', 'stock:' .. i, stock)
  redis.call('HSET', 'prod:' .. i, 'name', 'sku-' .. (i - 1), 'price', 1000 + ((i - 1) % 100) * 10,
             'max_per_user', limit, 'total', stock)
end
for u = 1, buyers do
  redis.call('HSET', 'user:' .. u, 'name', 'buyer ' .. (u - 1), 'email', 'buyer' .. (u - 1) .. '@bench.example',
             'blocked', 0)
  redis.call('SET', 'wallet:' .. u, 1000000000)
  if with_points then redis.call('SET', 'points:' .. u, 10000) else redis.call('SET', 'points:' .. u, 0) end
  if with_coupons then redis.call('HSET', 'coupon:' .. u, 'user', u, 'pct', 10, 'max', 500, 'order', 0) end
end
if s > 0 then
  local sum = 0
  for i = 1, skus do sum = sum + 1 / (i ^ s) end
  local acc = 0
  for i = 1, skus do
    acc = acc + 1 / (i ^ s)
    redis.call('ZADD', 'zipf', acc / sum, i)
  end
end
return skus + buyers
