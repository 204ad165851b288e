-- Nexmark q17: auction statistics report. Bids per auction and day, per price range, with
-- the minimum, maximum, average and total price: an unbounded group aggregation.
-- Same as Flink's nexmark q17, with FILTER clauses written as CASE inside the aggregate (see
-- q15) and DATE_FORMAT as TO_CHAR. Flink's AVG of a BIGINT is a BIGINT; here it is a DOUBLE.
CREATE TABLE nexmark_q17 AS
  SELECT
    auction,
    TO_CHAR(date_time, '%Y-%m-%d') AS bid_day,
    COUNT(*) AS total_bids,
    COUNT(CASE WHEN price < 10000 THEN 1 END) AS rank1_bids,
    COUNT(CASE WHEN price >= 10000 AND price < 1000000 THEN 1 END) AS rank2_bids,
    COUNT(CASE WHEN price >= 1000000 THEN 1 END) AS rank3_bids,
    MIN(price) AS min_price,
    MAX(price) AS max_price,
    AVG(price) AS avg_price,
    SUM(price) AS sum_price
  FROM bid
  GROUP BY auction, TO_CHAR(date_time, '%Y-%m-%d');
