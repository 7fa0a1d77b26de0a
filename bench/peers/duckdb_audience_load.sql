-- DuckDB's load of the audience benchmark's data (duckdb_audience.mjs): typed tables with NOT
-- NULL where the data has no gaps (so IN / NOT IN subqueries plan as plain semi/anti joins),
-- the purchase lines summed per customer, leaf and day, sorted by the category path.
CREATE TABLE categories (leaf USMALLINT NOT NULL, aisle UTINYINT NOT NULL,
  dept UTINYINT NOT NULL, path VARCHAR NOT NULL);
INSERT INTO categories SELECT * FROM read_csv('{{DIR}}/categories.csv', header = true,
  columns = {'leaf': 'USMALLINT', 'aisle': 'UTINYINT', 'dept': 'UTINYINT', 'path': 'VARCHAR'});

-- Segment, region and channel as ENUMs (one byte, compared as integers): half the time of
-- VARCHAR columns in the scans of the customers table that dominate the counts.
CREATE TEMP TABLE customers_csv AS SELECT * FROM read_csv('{{DIR}}/customers.csv', header = true,
  columns = {'customer': 'UINTEGER', 'segment': 'VARCHAR', 'clv_minor': 'BIGINT',
    'orders': 'INTEGER', 'recency_days': 'SMALLINT', 'r_score': 'UTINYINT', 'f_score': 'UTINYINT',
    'm_score': 'UTINYINT', 'region': 'VARCHAR', 'channel': 'VARCHAR'});
CREATE TYPE segment_key AS ENUM (SELECT DISTINCT segment FROM customers_csv WHERE segment IS NOT NULL ORDER BY 1);
CREATE TYPE region_name AS ENUM (SELECT DISTINCT region FROM customers_csv WHERE region IS NOT NULL ORDER BY 1);
CREATE TYPE channel_name AS ENUM (SELECT DISTINCT channel FROM customers_csv WHERE channel IS NOT NULL ORDER BY 1);
CREATE TABLE customers (customer UINTEGER NOT NULL, segment segment_key, clv_minor BIGINT,
  orders INTEGER, recency_days SMALLINT, r_score UTINYINT, f_score UTINYINT, m_score UTINYINT,
  region region_name, channel channel_name);
INSERT INTO customers SELECT * FROM customers_csv;
DROP TABLE customers_csv;

CREATE TABLE purchases (customer UINTEGER NOT NULL, dept UTINYINT NOT NULL,
  aisle UTINYINT NOT NULL, leaf USMALLINT NOT NULL, day INTEGER NOT NULL,
  spend_minor BIGINT NOT NULL);
INSERT INTO purchases
SELECT p.customer, k.dept, k.aisle, p.leaf, p.day, sum(p.spend_minor)::BIGINT
FROM read_csv('{{DIR}}/purchases.csv', header = true,
  columns = {'customer': 'UINTEGER', 'day': 'INTEGER', 'leaf': 'USMALLINT', 'spend_minor': 'BIGINT'}) p
JOIN categories k USING (leaf)
GROUP BY p.customer, k.dept, k.aisle, p.leaf, p.day
ORDER BY k.dept, k.aisle, p.leaf, p.day, p.customer;
