-- Nexmark q7: highest bid. The bids with the highest price of each 10-second window: a
-- windowed maximum joined back with the bids (a fan-out through a side input).
--
-- Differences from Flink's nexmark q7:
-- * Flink's windowed MAX is a sub-query; here it is its own table (nexmark_q7_max), emitted
--   once per window (EMIT FINAL; the 4-second GRACE PERIOD is Flink's watermark delay),
--   whose topic is read back as a stream.
-- * ksqlDB aggregations need a GROUP BY key, so the global maximum is grouped by a constant.
-- * Flink's join is an interval join (both sides carry event time); here it is a
--   stream-stream join WITHIN the window size, with the same BETWEEN condition.
CREATE TABLE nexmark_q7_max AS
  SELECT 1 AS k, WINDOWEND AS window_end, MAX(price) AS maxprice
  FROM bid
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 4 SECONDS)
  GROUP BY 1 EMIT FINAL;

CREATE STREAM nexmark_q7_maxima (window_end BIGINT, maxprice BIGINT)
  WITH (KAFKA_TOPIC='NEXMARK_Q7_MAX', VALUE_FORMAT='JSON', TIMESTAMP='window_end');

CREATE STREAM nexmark_q7 AS
  SELECT b.price AS price, b.auction AS auction, b.bidder AS bidder, b.date_time AS date_time, b.extra AS extra
  FROM bid b JOIN nexmark_q7_maxima m WITHIN (0 SECONDS, 10 SECONDS) GRACE PERIOD 5 SECONDS
    ON b.price = m.maxprice
  WHERE CAST(b.date_time AS BIGINT) BETWEEN m.window_end - 10000 AND m.window_end;
