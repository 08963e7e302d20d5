-- The monolith's schema: one database, one table per domain, every order one transaction.
-- Loaded like `flashsaga bench` loads its deployment (bench/harness.cc). psql variables:
-- skus stock buyers max_per_user with_points with_coupons
CREATE TABLE users (
  id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, blocked boolean NOT NULL DEFAULT false);
CREATE TABLE wallets (user_id bigint PRIMARY KEY REFERENCES users, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE wallet_history (
  id bigserial PRIMARY KEY, user_id bigint NOT NULL, order_id bigint, kind text NOT NULL, amount bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE points (user_id bigint PRIMARY KEY REFERENCES users, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE point_history (
  id bigserial PRIMARY KEY, user_id bigint NOT NULL, order_id bigint, kind text NOT NULL, amount bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE products (
  id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL, stock bigint NOT NULL CHECK (stock >= 0),
  total bigint NOT NULL, max_per_user int NOT NULL DEFAULT 0);
CREATE TABLE coupons (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, pct int NOT NULL, max_discount bigint NOT NULL,
  order_id bigint);                                   -- NULL: unused
CREATE TABLE orders (
  id bigserial PRIMARY KEY, user_id bigint NOT NULL, product_id bigint NOT NULL, qty int NOT NULL,
  subtotal bigint NOT NULL, discount bigint NOT NULL, points bigint NOT NULL, paid bigint NOT NULL,
  coupon_id bigint, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX orders_user ON orders (user_id, product_id);   -- "my orders", and the max_per_user count
CREATE TABLE payments (
  id bigserial PRIMARY KEY, order_id bigint NOT NULL, user_id bigint NOT NULL, amount bigint NOT NULL,
  status text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());

INSERT INTO products
  SELECT i, 'sku-' || (i - 1), 1000 + ((i - 1) % 100) * 10, :stock, :stock, :max_per_user
  FROM generate_series(1, :skus) i;
INSERT INTO users SELECT u, 'buyer ' || (u - 1), 'buyer' || (u - 1) || '@bench.example'
  FROM generate_series(1, :buyers) u;
INSERT INTO wallets SELECT u, 1000000000 FROM generate_series(1, :buyers) u;
INSERT INTO points SELECT u, CASE WHEN :with_points = 1 THEN 10000 ELSE 0 END FROM generate_series(1, :buyers) u;
INSERT INTO coupons SELECT u, u, 10, 500, NULL FROM generate_series(1, :buyers) u WHERE :with_coupons = 1;

-- The same order as one server-side function: one round trip per order (the strongest form of
-- the monolith; the app-style script order_app.sql sends each statement separately).
-- Returns the order id, 0 when sold out, a negative refusal code otherwise.
CREATE FUNCTION place_order(p_user bigint, p_sku bigint, p_want_coupon boolean, p_points bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_price bigint; v_limit int; v_had bigint; v_blocked boolean; v_discount bigint := 0;
  v_coupon bigint; v_paid bigint; v_oid bigint; v_reward bigint;
BEGIN
  -- 1. stock first: a conditional UPDATE takes the row lock only when there is stock
  UPDATE products SET stock = stock - 1 WHERE id = p_sku AND stock >= 1
    RETURNING price, max_per_user INTO v_price, v_limit;
  IF NOT FOUND THEN RETURN 0; END IF;                          -- sold out
  IF v_limit > 0 THEN
    SELECT coalesce(sum(qty), 0) INTO v_had FROM orders WHERE user_id = p_user AND product_id = p_sku;
    IF v_had + 1 > v_limit THEN RAISE EXCEPTION 'limit_exceeded'; END IF;
  END IF;
  -- 2. the user
  SELECT blocked INTO v_blocked FROM users WHERE id = p_user;
  IF v_blocked IS NULL OR v_blocked THEN RAISE EXCEPTION 'unknown_or_blocked_user'; END IF;
  -- 3. coupon (used once per buyer; later orders of that buyer go without)
  IF p_want_coupon THEN
    SELECT id, least(v_price * pct / 100, max_discount) INTO v_coupon, v_discount
      FROM coupons WHERE id = p_user AND order_id IS NULL FOR UPDATE;
    IF NOT FOUND THEN v_coupon := NULL; v_discount := 0; END IF;
  END IF;
  v_paid := greatest(v_price - v_discount - p_points, 0);
  INSERT INTO orders (user_id, product_id, qty, subtotal, discount, points, paid, coupon_id, status)
    VALUES (p_user, p_sku, 1, v_price, v_discount, p_points, v_paid, v_coupon, 'COMPLETED') RETURNING id INTO v_oid;
  IF v_coupon IS NOT NULL THEN UPDATE coupons SET order_id = v_oid WHERE id = v_coupon; END IF;
  -- 4. points: the deduction and the reward (reward_rate_bp = 100) in one UPDATE, before the
  --    wallet, so every order locks the buyer's rows in the same order (no deadlock)
  v_reward := v_paid / 100;
  UPDATE points SET balance = balance - p_points + v_reward WHERE user_id = p_user AND balance >= p_points;
  IF NOT FOUND THEN RAISE EXCEPTION 'insufficient_points'; END IF;
  IF p_points > 0 THEN
    INSERT INTO point_history (user_id, order_id, kind, amount) VALUES (p_user, v_oid, 'deduct', p_points);
  END IF;
  INSERT INTO point_history (user_id, order_id, kind, amount) VALUES (p_user, v_oid, 'reward', v_reward);
  -- 5. payment: wallet charge and the payment record
  UPDATE wallets SET balance = balance - v_paid WHERE user_id = p_user AND balance >= v_paid;
  IF NOT FOUND THEN RAISE EXCEPTION 'insufficient_balance'; END IF;
  INSERT INTO wallet_history (user_id, order_id, kind, amount) VALUES (p_user, v_oid, 'charge', v_paid);
  INSERT INTO payments (order_id, user_id, amount, status) VALUES (v_oid, p_user, v_paid, 'APPROVED');
  RETURN v_oid;
END $$;
ANALYZE;
