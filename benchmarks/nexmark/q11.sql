-- Nexmark q11: user sessions. How many bids did a user make in each session they were
-- active (sessions end after 10 seconds without a bid)? Session windows.
-- Same as Flink's nexmark q11: Flink's group-window aggregation emits each session once,
-- when the watermark (event time minus 4 s) passes its end; here EMIT FINAL with a 4-second
-- GRACE PERIOD does the same.
CREATE TABLE nexmark_q11 AS
  SELECT bidder, COUNT(*) AS bid_count, WINDOWSTART AS starttime, WINDOWEND AS endtime
  FROM bid
  WINDOW SESSION (10 SECONDS, GRACE PERIOD 4 SECONDS)
  GROUP BY bidder EMIT FINAL;
