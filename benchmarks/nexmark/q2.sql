-- Nexmark q2: selection. Bids on every 123rd auction.
-- Same as Flink's nexmark q2 (MOD(auction, 123) written as auction % 123).
CREATE STREAM nexmark_q2 AS
  SELECT auction, price FROM bid WHERE auction % 123 = 0 EMIT CHANGES;
