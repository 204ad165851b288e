-- Nexmark q0: pass-through. Measures the cost of reading, decoding and projecting bids.
-- Same as Flink's nexmark q0 (dateTime is spelled date_time, as the generator names it).
CREATE STREAM nexmark_q0 AS
  SELECT auction, bidder, price, date_time, extra FROM bid EMIT CHANGES;
