SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN;
SELECT 1;
