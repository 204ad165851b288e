-- Nexmark q19: the 10 highest bids of each auction (top-N).
-- Flink writes it as ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) <= 10 and
-- emits one row per bid in the top 10 (with its rank); Brook has no OVER windows, so the top
-- 10 are one TOPK over whole bids (a STRUCT ordered by price first) per auction: the same bids,
-- as one array per auction, ranked by position.
CREATE TABLE nexmark_q19 AS
  SELECT
    auction,
    TOPK(STRUCT(price := price, bidder := bidder, channel := channel, url := url, date_time := date_time,
                extra := extra), 10) AS top_bids
  FROM bid
  GROUP BY auction;
