-- A table created in the same transaction is not live yet, so plain index
-- builds and validated constraints on it are fine.
SET lock_timeout = '1s';
SET statement_timeout = '5s';
BEGIN;
CREATE TABLE invoices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL,
  total numeric NOT NULL
);
CREATE INDEX invoices_user_idx ON invoices (user_id);
ALTER TABLE invoices ADD CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE invoices ADD CONSTRAINT invoices_total_check CHECK (total >= 0);
COMMIT;
