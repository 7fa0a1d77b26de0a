-- PostgreSQL's load (psql): COPY the export (its columns: COLUMNS) into a staging table, then one row per order
-- (orders.sql) into an indexed table: primary key on the hashed order id, index on the
-- hashed customer. Idempotent like a Tessera load: loading the file again adds nothing.
\set ON_ERROR_STOP on
SET timezone = 'UTC';
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
CREATE FUNCTION hash_id(value text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT sha256(convert_to(value, 'UTF8')) $$;
CREATE UNLOGGED TABLE order_lines ({{COLUMNS}});
\copy order_lines FROM {{SOURCE}} WITH (FORMAT csv, HEADER true)
CREATE TABLE orders (
  order_hash bytea PRIMARY KEY,
  customer_hash bytea,
  day date NOT NULL,
  kind "char" NOT NULL,
  cents bigint NOT NULL);
CREATE INDEX orders_by_customer ON orders (customer_hash);
INSERT INTO orders
{{ORDERS}}
ON CONFLICT (order_hash) DO NOTHING;
DROP TABLE order_lines;
VACUUM ANALYZE orders;
SELECT pg_backend_pid() AS backend_pid \gset
\setenv BACKEND_PID :backend_pid
\! grep VmHWM /proc/$BACKEND_PID/status > '{{MEMFILE}}'
