-- Nexmark q14: calculation. Converts prices, classifies bid times and counts characters for
-- bids in a price range: duplicate expressions and a user-defined function.
-- Same as Flink's nexmark q14, except that Flink calls a Java UDF count_char(extra, 'c');
-- Brook has no UDFs, so the count is the built-in expression
-- LENGTH(extra) - LENGTH(REPLACE(extra, 'c', '')), and HOUR(dateTime) is
-- EXTRACT(HOUR FROM date_time).
CREATE STREAM nexmark_q14 AS
  SELECT
    auction,
    bidder,
    CAST(0.908 AS DECIMAL(4, 3)) * price AS price,
    CASE
      WHEN EXTRACT(HOUR FROM date_time) >= 8 AND EXTRACT(HOUR FROM date_time) <= 18 THEN 'dayTime'
      WHEN EXTRACT(HOUR FROM date_time) <= 6 OR EXTRACT(HOUR FROM date_time) >= 20 THEN 'nightTime'
      ELSE 'otherTime'
    END AS bid_time_type,
    date_time,
    extra,
    CHARACTER_LENGTH(extra) - CHARACTER_LENGTH(REPLACE(extra, 'c', '')) AS c_counts
  FROM bid
  WHERE CAST(0.908 AS DECIMAL(4, 3)) * price > 1000000 AND CAST(0.908 AS DECIMAL(4, 3)) * price < 50000000
  EMIT CHANGES;
