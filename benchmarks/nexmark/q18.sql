-- Nexmark q18: find the last bid of each bidder on each auction (deduplication).
-- Flink writes it as ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC)
-- = 1; Brook has no OVER windows, so the last bid is kept with LATEST_BY_OFFSET per
-- (bidder, auction). The generator writes bids in event-time order, so the latest by offset
-- is the latest by date_time, as in Flink.
CREATE TABLE nexmark_q18 AS
  SELECT
    bidder,
    auction,
    LATEST_BY_OFFSET(price) AS price,
    LATEST_BY_OFFSET(channel) AS channel,
    LATEST_BY_OFFSET(url) AS url,
    LATEST_BY_OFFSET(date_time) AS date_time,
    LATEST_BY_OFFSET(extra) AS extra
  FROM bid
  GROUP BY bidder, auction;
