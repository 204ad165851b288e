-- Nexmark q16: channel statistics report. q15 per channel and day, with the latest minute.
-- Same as Flink's nexmark q16, with FILTER clauses written as CASE inside the aggregate (see
-- q15) and DATE_FORMAT as TO_CHAR. The grouping key (channel, day) is a two-column key.
CREATE TABLE nexmark_q16 AS
  SELECT
    channel,
    TO_CHAR(date_time, '%Y-%m-%d') AS bid_day,
    MAX(TO_CHAR(date_time, '%H:%M')) AS bid_minute,
    COUNT(*) AS total_bids,
    COUNT(CASE WHEN price < 10000 THEN 1 END) AS rank1_bids,
    COUNT(CASE WHEN price >= 10000 AND price < 1000000 THEN 1 END) AS rank2_bids,
    COUNT(CASE WHEN price >= 1000000 THEN 1 END) AS rank3_bids,
    COUNT_DISTINCT(bidder) AS total_bidders,
    COUNT_DISTINCT(CASE WHEN price < 10000 THEN bidder END) AS rank1_bidders,
    COUNT_DISTINCT(CASE WHEN price >= 10000 AND price < 1000000 THEN bidder END) AS rank2_bidders,
    COUNT_DISTINCT(CASE WHEN price >= 1000000 THEN bidder END) AS rank3_bidders,
    COUNT_DISTINCT(auction) AS total_auctions,
    COUNT_DISTINCT(CASE WHEN price < 10000 THEN auction END) AS rank1_auctions,
    COUNT_DISTINCT(CASE WHEN price >= 10000 AND price < 1000000 THEN auction END) AS rank2_auctions,
    COUNT_DISTINCT(CASE WHEN price >= 1000000 THEN auction END) AS rank3_auctions
  FROM bid
  GROUP BY channel, TO_CHAR(date_time, '%Y-%m-%d');
