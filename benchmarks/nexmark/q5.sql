-- Nexmark q5: hot items. Which auctions have seen the most bids in the last 10 seconds,
-- updated every 2 seconds? Sliding (hopping) windows and a per-window maximum.
--
-- Differences from Flink's nexmark q5:
-- * Flink's window aggregations emit each window once, when the watermark (event time minus
--   4 s) passes its end; here EMIT FINAL with a 4-second GRACE PERIOD does the same.
-- * Flink joins the per-auction counts with the per-window maximum count (two sub-queries
--   over the same hopping windows); ksqlDB has no sub-queries, and joining them here would
--   need a stream-table join that can see a window's maximum before it is final. Instead the
--   per-window maximum is taken over (count, auction) pairs: MAX(STRUCT(NUM, AUCTION)) is the
--   auction with the most bids. On a tie Flink emits every auction with the top count; this
--   emits the one with the highest id.
CREATE TABLE nexmark_q5_counts AS
  SELECT auction, AS_VALUE(auction) AS hot_auction, WINDOWSTART AS starttime, COUNT(*) AS num
  FROM bid
  WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 2 SECONDS, GRACE PERIOD 4 SECONDS)
  GROUP BY auction EMIT FINAL;

CREATE STREAM nexmark_q5_windows (hot_auction BIGINT, starttime BIGINT, num BIGINT)
  WITH (KAFKA_TOPIC='NEXMARK_Q5_COUNTS', VALUE_FORMAT='JSON');

CREATE TABLE nexmark_q5 AS
  SELECT starttime, MAX(STRUCT(num := num, auction := hot_auction)) AS hottest
  FROM nexmark_q5_windows GROUP BY starttime;
