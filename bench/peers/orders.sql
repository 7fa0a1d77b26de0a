-- One row per order from the line items (LINES: a file or a table), for duckdb_load.sql and
-- postgres_load.sql: byte-identical lines count once (Tessera's duplicate rows), the
-- order id and the customer identifier become hash_id(key || kind || normalized value),
-- statuses and amounts follow config/mappings/generic.toml (returns subtract, voided orders
-- are kept but count for nothing later).
SELECT hash_id('{{KEY}}' || 'o' || order_id) AS order_hash,
       hash_id('{{KEY}}' || customer_key) AS customer_hash,
       CAST(ordered_at AS DATE) AS day,
       kind,
       CASE WHEN kind = 'c' THEN -abs(cents) ELSE cents END AS cents
FROM (
  SELECT order_id,
         min(CASE WHEN trim(customer_id) <> '' THEN 'c' || trim(customer_id)
                  WHEN trim(email) <> '' THEN 'e' || lower(trim(email)) END) AS customer_key,
         min(ordered_at) AS ordered_at,
         min(CASE WHEN lower(status) IN ('cancelled', 'canceled', 'storniert', 'voided', 'void')
                    THEN 'v'
                  WHEN lower(status) IN ('returned', 'refunded', 'return', 'refund', 'retoure',
                                         'credit', 'gutschrift') THEN 'c'
                  ELSE 'p' END) AS kind,
         sum(CAST(unit_price * 100 AS BIGINT) * quantity) AS cents
  FROM (SELECT DISTINCT * FROM {{LINES}}
        WHERE coalesce(lower(status), '') NOT IN ('pending', 'draft', 'offen')) AS lines
  GROUP BY order_id) AS by_order
