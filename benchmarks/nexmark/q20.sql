-- Nexmark q20: expand bids with their auction, for auctions of category 10 (a filter join).
-- Differences from Flink's nexmark q20: Flink's regular join also matches a bid that arrives
-- before its auction (the generator makes bids for auctions up to 10 ids ahead of the newest);
-- here each bid looks up its auction when it arrives (a stream-table join: ksqlDB joins a
-- stream with a stream only within a time window), so those early bids are dropped.
CREATE STREAM nexmark_q20 AS
  SELECT
    b.auction AS auction, b.bidder AS bidder, b.price AS price, b.channel AS channel, b.url AS url,
    b.date_time AS bid_date_time, b.extra AS bid_extra,
    a.item_name AS item_name, a.description AS description, a.initial_bid AS initial_bid,
    a.reserve AS reserve, a.date_time AS auction_date_time, a.expires AS expires, a.seller AS seller,
    a.category AS category, a.extra AS auction_extra
  FROM bid b JOIN auction_by_id a ON b.auction = a.id
  WHERE a.category = 10
  EMIT CHANGES;
