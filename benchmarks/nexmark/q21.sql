-- Nexmark q21: add a channel id to each bid (CASE WHEN and a regular expression).
-- Same as Flink's nexmark q21, with REGEXP_EXTRACT(url, pattern, 2) written as element 2 of
-- REGEXP_MATCH(url, pattern) (the second capture group; NULL when the URL does not match).
CREATE STREAM nexmark_q21 AS
  SELECT
    auction, bidder, price, channel,
    CASE
      WHEN LCASE(channel) = 'apple' THEN '0'
      WHEN LCASE(channel) = 'google' THEN '1'
      WHEN LCASE(channel) = 'facebook' THEN '2'
      WHEN LCASE(channel) = 'baidu' THEN '3'
      ELSE ARRAY_ELEMENT(REGEXP_MATCH(url, '(&|^)channel_id=([^&]*)'), 2)
    END AS channel_id
  FROM bid
  WHERE ARRAY_ELEMENT(REGEXP_MATCH(url, '(&|^)channel_id=([^&]*)'), 2) IS NOT NULL
     OR LCASE(channel) IN ('apple', 'google', 'facebook', 'baidu')
  EMIT CHANGES;
