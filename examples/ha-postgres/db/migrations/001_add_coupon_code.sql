-- Expand only: v1 keeps working while v2 rolls out (ship migrations lint checks it).
SET lock_timeout = '2s';
SET statement_timeout = '60s';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS coupon_code text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_coupon_code ON orders (coupon_code);
