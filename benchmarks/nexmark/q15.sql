-- Nexmark q15: bidding statistics report. How many bids, distinct bidders and distinct
-- auctions per day, in total and per price range? Multiple distinct aggregations with filters.
-- Same as Flink's nexmark q15, with Flink's aggregate FILTER clauses written as CASE inside the
-- aggregate (COUNT and COUNT_DISTINCT skip NULLs, so COUNT(CASE WHEN p THEN 1 END) counts the
-- rows where p holds, as COUNT(*) FILTER (WHERE p) does), and DATE_FORMAT(dateTime,
-- 'yyyy-MM-dd') written as TO_CHAR(date_time, '%Y-%m-%d').
CREATE TABLE nexmark_q15 AS
  SELECT
    TO_CHAR(date_time, '%Y-%m-%d') AS bid_day,
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
  GROUP BY TO_CHAR(date_time, '%Y-%m-%d');
