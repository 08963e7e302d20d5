-- pgbench: one order = one call of place_order() = one transaction, one round trip.
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
SELECT place_order(:uid, :sku, :want_coupon, :pts);
