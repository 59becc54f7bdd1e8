SET lock_timeout = '1s';
SET statement_timeout = '5s';
-- ship:allow ban-drop-column contract phase: v41 no longer reads legacy_flag
ALTER TABLE users DROP COLUMN IF EXISTS legacy_flag;
ALTER TABLE users DROP COLUMN IF EXISTS old_email; -- ship:allow ban-drop-column removed from app in v40
-- ship:allow renaming-column
ALTER TABLE users RENAME COLUMN a TO b;
-- ship:allow no-such-rule because reasons
DROP TABLE IF EXISTS t1;
-- ship:allow ban-drop-table stale: a blank line separates it from the statement

DROP TABLE IF EXISTS t2;
/* ship:allow ban-drop-view view unused since v12 */ DROP VIEW IF EXISTS v1;
-- Only the named rule is accepted; the SET NOT NULL in the same statement still fails.
ALTER TABLE users
  ALTER COLUMN x TYPE bigint,
  ALTER COLUMN y SET NOT NULL; -- ship:allow changing-column-type table has 10 rows
-- squawk-ignore ban-drop-sequence
DROP SEQUENCE IF EXISTS s1;
-- ship:allowed ban-drop-view typo in the directive
SELECT 1;
-- Warnings can be accepted too.
-- ship:allow prefer-robust-stmts run by a tool that retries from a snapshot
ALTER TABLE users ADD COLUMN IF NOT EXISTS note text, ADD CONSTRAINT note_len CHECK (length(note) < 500) NOT VALID;
