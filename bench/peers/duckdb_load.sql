-- DuckDB's load: the generated line items straight from the CSV file into one persisted
-- table of orders, deduplicated and with hashed identifiers (orders.sql).
SET TimeZone = 'UTC';
CREATE MACRO hash_id(value) AS sha256(value);
CREATE TABLE orders AS
{{ORDERS}};
