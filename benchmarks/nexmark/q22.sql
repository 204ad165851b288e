-- Nexmark q22: the first three directories of each bid's URL (string splitting).
-- Same as RisingWave's nexmark q22 (Flink's nexmark repo has no q22).
CREATE STREAM nexmark_q22 AS
  SELECT
    auction, bidder, price, channel,
    SPLIT_PART(url, '/', 4) AS dir1,
    SPLIT_PART(url, '/', 5) AS dir2,
    SPLIT_PART(url, '/', 6) AS dir3
  FROM bid
  EMIT CHANGES;
