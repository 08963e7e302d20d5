-- (b) The whole order in one atomic script, the usual Redis flash-sale design: stock check and
-- decrement with max_per_user, user check, coupon use, points deduction, wallet charge, the
-- order and payment records, wallet/points history, reward points. Redis runs a script alone,
-- so every check is done before the first write and nothing needs undoing.
-- ARGV: r_user r_sku r_coupon r_points (uniform in [0, R) from redis-benchmark's __rand_int__),
--       buyers skus coupon_ppm points_ppm zipf(0/1) R
-- Returns the order id, 0 when sold out, or a negative refusal code.
local R = tonumber(ARGV[10])
local uid = tonumber(ARGV[1]) % tonumber(ARGV[5]) + 1
local sku
if ARGV[9] == '1' then
  sku = tonumber(redis.call('ZRANGEBYSCORE', 'zipf', tonumber(ARGV[2]) / R, '+inf', 'LIMIT', 0, 1)[1])
else
  sku = tonumber(ARGV[2]) % tonumber(ARGV[6]) + 1
end
local want_coupon = tonumber(ARGV[3]) * 1000000 < tonumber(ARGV[7]) * R
local use_points = 0
if tonumber(ARGV[4]) * 1000000 < tonumber(ARGV[8]) * R then use_points = 100 end
local qty = 1

-- 1. stock first: sold out is answered before anything else is looked at
local stock_key = 'stock:' .. sku
if tonumber(redis.call('GET', stock_key)) < qty then return 0 end
local prod = redis.call('HMGET', 'prod:' .. sku, 'price', 'max_per_user')
local price, limit = tonumber(prod[1]), tonumber(prod[2])
if limit > 0 then
  local had = tonumber(redis.call('HGET', 'bought:' .. sku, uid) or '0')
  if had + qty > limit then return -1 end                   -- limit_exceeded
end
-- 2. the user
local blocked = redis.call('HGET', 'user:' .. uid, 'blocked')
if blocked ~= '0' then return -2 end                         -- unknown or blocked
-- 3. coupon (a buyer's coupon is used once; later orders of that buyer go without, as the
--    flashsaga driver never sends a coupon it already used)
local subtotal = price * qty
local discount = 0
local coupon_key = 'coupon:' .. uid
if want_coupon then
  local c = redis.call('HMGET', coupon_key, 'order', 'pct', 'max')
  if c[1] == '0' then
    discount = math.min(math.floor(subtotal * tonumber(c[2]) / 100), tonumber(c[3]))
  else
    want_coupon = false
  end
end
-- 4. points
local points_key = 'points:' .. uid
if use_points > 0 and tonumber(redis.call('GET', points_key)) < use_points then return -3 end
-- 5. wallet
local paid = subtotal - discount - use_points
if paid < 0 then paid = 0 end
local wallet_key = 'wallet:' .. uid
if tonumber(redis.call('GET', wallet_key)) < paid then return -4 end

-- every check passed: apply
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local oid = redis.call('INCR', 'seq:order')
redis.call('DECRBY', stock_key, qty)
if limit > 0 then redis.call('HINCRBY', 'bought:' .. sku, uid, qty) end
if want_coupon then redis.call('HSET', coupon_key, 'order', oid) end
if use_points > 0 then
  redis.call('DECRBY', points_key, use_points)
  redis.call('RPUSH', 'ph:' .. uid, 'deduct:' .. oid .. ':' .. use_points)
end
redis.call('DECRBY', wallet_key, paid)
redis.call('RPUSH', 'wh:' .. uid, 'charge:' .. oid .. ':' .. paid)
redis.call('HSET', 'pay:' .. oid, 'order', oid, 'user', uid, 'amount', paid, 'status', 'APPROVED', 'at', now)
local reward = math.floor(paid / 100)                        -- reward_rate_bp = 100
if reward > 0 then
  redis.call('INCRBY', points_key, reward)
  redis.call('RPUSH', 'ph:' .. uid, 'reward:' .. oid .. ':' .. reward)
end
redis.call('HSET', 'order:' .. oid, 'user', uid, 'sku', sku, 'qty', qty, 'subtotal', subtotal,
           'discount', discount, 'points', use_points, 'paid', paid, 'status', 'COMPLETED', 'at', now)
redis.call('SETNX', 't:first', now)
redis.call('SET', 't:last', now)
return oid
