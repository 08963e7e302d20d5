-- (a) Stock only: the classic flash-sale Lua reservation. Check and decrement the SKU's counter
-- atomically; nothing else (no user, coupon, points, wallet, order or payment).
-- ARGV: r_user r_sku r_coupon r_points (uniform in [0, R) from redis-benchmark's __rand_int__),
--       buyers skus coupon_ppm points_ppm zipf(0/1) R
local R = tonumber(ARGV[10])
local sku
if ARGV[9] == '1' then
  sku = redis.call('ZRANGEBYSCORE', 'zipf', tonumber(ARGV[2]) / R, '+inf', 'LIMIT', 0, 1)[1]
else
  sku = tonumber(ARGV[2]) % tonumber(ARGV[6]) + 1
end
local key = 'stock:' .. sku
if tonumber(redis.call('GET', key)) < 1 then return 0 end  -- sold out
redis.call('DECRBY', key, 1)
-- When the last reservation happened, for reserved/s over the selling period.
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
redis.call('SETNX', 't:first', now)
redis.call('SET', 't:last', now)
return 1
