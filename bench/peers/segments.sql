-- The segment statistics in one query, the same for DuckDB and PostgreSQL ({{IDIV}} is
-- integer division): profiles of the customers with a purchase in the window (net revenue
-- counts returns, voided orders count for nothing), scores 1..5 by
-- min(5, 1 + floor(5 * below / n)) with below = customers strictly worse (rank() - 1, so
-- ties share a score), then the nine rules of config/segments.toml, first match wins.
WITH profiles AS (
  SELECT customer_hash,
         count(*) FILTER (WHERE kind = 'p') AS orders,
         sum(cents) AS clv,
         max(day) FILTER (WHERE kind = 'p') AS last_day
  FROM orders
  WHERE kind <> 'v' AND customer_hash IS NOT NULL
    AND day BETWEEN DATE '{{START}}' AND DATE '{{END}}'
  GROUP BY customer_hash
  HAVING count(*) FILTER (WHERE kind = 'p') > 0
), ranked AS (
  SELECT orders, clv, count(*) OVER () AS n,
         rank() OVER (ORDER BY last_day) - 1 AS r_below,
         rank() OVER (ORDER BY orders) - 1 AS f_below,
         rank() OVER (ORDER BY clv) - 1 AS m_below
  FROM profiles
), scored AS (
  SELECT orders, clv,
         least(5, 1 + 5 * r_below {{IDIV}} n) AS r,
         least(5, 1 + 5 * f_below {{IDIV}} n) AS f,
         least(5, 1 + 5 * m_below {{IDIV}} n) AS m
  FROM ranked
)
SELECT CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champions'
            WHEN r >= 3 AND f >= 4 THEN 'loyal'
            WHEN r >= 3 AND f BETWEEN 2 AND 3 THEN 'potential_loyalists'
            WHEN r >= 4 AND f = 1 THEN 'new'
            WHEN r = 3 AND f = 1 THEN 'promising'
            WHEN r <= 2 AND f >= 4 AND m >= 4 THEN 'cant_lose'
            WHEN r <= 2 AND f >= 3 THEN 'at_risk'
            WHEN r = 2 AND f <= 2 THEN 'hibernating'
            ELSE 'lost' END AS segment,
       count(*) AS customers,
       sum(clv) AS clv_cents,
       sum(orders) AS orders
FROM scored
GROUP BY 1
ORDER BY 1;
