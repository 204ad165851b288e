-- Nexmark q4: average price for a category. The average of the winning (highest) bid prices
-- of the auctions of each category. A join followed by two levels of aggregation.
--
-- Differences from Flink's nexmark q4:
-- * Flink nests the per-auction MAX in a sub-query; ksqlDB has no sub-queries in FROM, so the
--   inner aggregation is its own table (nexmark_q4_max) and the outer one reads its topic.
-- * Flink's inner join is a regular join of bid and auction; here each bid looks up its
--   auction in the auction table (stream-table join). With the BETWEEN condition the rows are
--   the same: a bid can only match an auction that started at or before it.
-- * The inner aggregation groups by the auction id only and carries the category with
--   LATEST_BY_OFFSET (an auction's category never changes), so the key stays one BIGINT.
-- * Brook cannot aggregate a TABLE (that needs retractions of replaced rows): the outer AVG
--   reads the inner table's changelog as a stream, so every new maximum of an auction counts
--   once in its category's average, where Flink retracts the auction's previous maximum and
--   averages only the current one per auction.
CREATE TABLE nexmark_q4_max AS
  SELECT a.id AS id, LATEST_BY_OFFSET(a.category) AS category, MAX(b.price) AS final_price
  FROM bid b JOIN auction_by_id a ON b.auction = a.id
  WHERE b.date_time BETWEEN a.date_time AND a.expires
  GROUP BY a.id;

CREATE STREAM nexmark_q4_max_changes (id BIGINT KEY, category BIGINT, final_price BIGINT)
  WITH (KAFKA_TOPIC='NEXMARK_Q4_MAX', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');

CREATE TABLE nexmark_q4 AS
  SELECT category, AVG(final_price) AS avg_final_price
  FROM nexmark_q4_max_changes GROUP BY category;
