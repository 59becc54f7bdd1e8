-- Hygiene only: warnings, never a failed gate. No timeouts are set, but
-- CREATE TABLE of a new table is not a slow statement.
CREATE TABLE IF NOT EXISTS widgets (
  id serial PRIMARY KEY,
  qty int,
  small smallint,
  label varchar(40),
  code char(3),
  created_at timestamp
);
CREATE TABLE widget_tags (widget_id bigint, tag text);
ALTER TYPE mood ADD VALUE 'meh';
CREATE TABLE IF NOT EXISTS this_table_name_is_far_too_long_for_postgres_to_keep_without_truncating_it (id bigint);
