-- Expand phase done right: every statement is safe while the previous
-- release keeps serving. Only hygiene warnings are expected here.
SET lock_timeout = '1s';
SET statement_timeout = '5s';

-- New columns are nullable, or carry a constant default (no rewrite on PG 11+).
ALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;

-- Indexes are built and dropped without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);
DROP INDEX CONCURRENTLY IF EXISTS users_old_idx;
REINDEX INDEX CONCURRENTLY users_email_idx;

-- Foreign key: NOT VALID first, VALIDATE in its own transaction.
ALTER TABLE orders ADD CONSTRAINT orders_user_fk
  FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;

-- NOT NULL via a validated CHECK constraint, so SET NOT NULL skips the scan.
ALTER TABLE users ADD CONSTRAINT users_name_not_null CHECK (name IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_name_not_null;
ALTER TABLE users ALTER COLUMN name SET NOT NULL;

-- UNIQUE and PRIMARY KEY on top of concurrently built indexes.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_handle_key ON users (handle);
ALTER TABLE users ADD CONSTRAINT users_handle_unique UNIQUE USING INDEX users_handle_key;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_pk_idx ON users (id);
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_pk_idx;

ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;
CREATE TABLE IF NOT EXISTS audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  note text,
  at timestamptz NOT NULL DEFAULT now()
);
ALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';
