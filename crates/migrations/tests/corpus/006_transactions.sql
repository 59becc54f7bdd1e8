SET lock_timeout = '1s';
SET statement_timeout = '5s';
BEGIN;
-- CONCURRENTLY is rejected inside a transaction: the migration would abort.
CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_qty_idx ON widgets (qty);
ALTER TABLE widgets ADD CONSTRAINT widgets_qty_check CHECK (qty > 0) NOT VALID;
-- Validating in the same transaction keeps the ADD's lock during the scan.
ALTER TABLE widgets VALIDATE CONSTRAINT widgets_qty_check;
BEGIN;
COMMIT;
COMMIT;
BEGIN;
ALTER TABLE widgets ADD COLUMN IF NOT EXISTS note text;
