-- pgbench: one order = ONE transaction across every table, the statements sent one by one the
-- way an application server (the Spring-style monolith of SEED.md) sends them, stock first.
-- -D variables: buyers skus coupon_ppm points_ppm zipf_s (0: uniform; flash-sale: skus = 1)
\set uid random(1, :buyers)
\if :zipf_s > 0
\set sku random_zipfian(1, :skus, :zipf_s)
\else
\set sku random(1, :skus)
\endif
\set want_coupon random(0, 999999) < :coupon_ppm
\set pts 0
\if random(0, 999999) < :points_ppm
\set pts 100
\endif
BEGIN;
-- 1. stock: conditional UPDATE (row lock only when there is stock); always one result row
WITH s AS (UPDATE products SET stock = stock - 1 WHERE id = :sku AND stock >= 1 RETURNING price, max_per_user)
  SELECT count(*) AS got, coalesce(max(price), 0) AS price, coalesce(max(max_per_user), 0) AS lim FROM s \gset
\if :got = 0
ROLLBACK;
\else
\set refused 0
\if :lim > 0
SELECT coalesce(sum(qty), 0) AS had FROM orders WHERE user_id = :uid AND product_id = :sku \gset
\if :had + 1 > :lim
\set refused 1
\endif
\endif
-- 2. the user
SELECT count(*) AS ok_user FROM users WHERE id = :uid AND NOT blocked \gset
\if :ok_user = 0
\set refused 1
\endif
\if :refused
ROLLBACK;
\else
-- 3. coupon (used once per buyer; later orders of that buyer go without)
\set discount 0
\set coupon 0
\if :want_coupon
SELECT count(*) AS have_coupon, coalesce(max(least(:price * pct / 100, max_discount)), 0) AS d
  FROM (SELECT pct, max_discount FROM coupons WHERE id = :uid AND order_id IS NULL FOR UPDATE) c \gset
\if :have_coupon
\set discount :d
\set coupon :uid
\endif
\endif
\set paid greatest(:price - :discount - :pts, 0)
INSERT INTO orders (user_id, product_id, qty, subtotal, discount, points, paid, coupon_id, status)
  VALUES (:uid, :sku, 1, :price, :discount, :pts, :paid, NULLIF(:coupon, 0), 'COMPLETED') RETURNING id AS oid \gset
\if :coupon > 0
UPDATE coupons SET order_id = :oid WHERE id = :coupon;
\endif
-- 4. points: the deduction and the reward (reward_rate_bp = 100) in one UPDATE, before the
--    wallet, so every order locks the buyer's rows in the same order (no deadlock)
\set reward :paid / 100
UPDATE points SET balance = balance - :pts + :reward WHERE user_id = :uid;
\if :pts > 0
INSERT INTO point_history (user_id, order_id, kind, amount) VALUES (:uid, :oid, 'deduct', :pts);
\endif
INSERT INTO point_history (user_id, order_id, kind, amount) VALUES (:uid, :oid, 'reward', :reward);
-- 5. payment: wallet charge (CHECK balance >= 0 refuses an overdraft) and the payment record
UPDATE wallets SET balance = balance - :paid WHERE user_id = :uid;
INSERT INTO wallet_history (user_id, order_id, kind, amount) VALUES (:uid, :oid, 'charge', :paid);
INSERT INTO payments (order_id, user_id, amount, status) VALUES (:oid, :uid, :paid, 'APPROVED');
COMMIT;
\endif
\endif
