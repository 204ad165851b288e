-- Nexmark q1: currency conversion. Converts each bid price from dollars to euros.
-- Same as Flink's nexmark q1: 0.908 is a DECIMAL(4, 3) in Flink SQL, so the price is a
-- DECIMAL there too; Brook parses a bare 0.908 as DOUBLE, hence the CAST.
CREATE STREAM nexmark_q1 AS
  SELECT auction, bidder, CAST(0.908 AS DECIMAL(4, 3)) * price AS price, date_time, extra
  FROM bid EMIT CHANGES;
