-- Nexmark q8: monitor new users. People who entered the system and created an auction in
-- the same 10-second window. Two windowed aggregations and a join of their results.
--
-- Differences from Flink's nexmark q8:
-- * The two windowed sub-queries are their own tables, emitted once per window (EMIT FINAL;
--   the 4-second GRACE PERIOD is Flink's watermark delay), whose topics are read back as
--   streams.
-- * People are grouped by id alone, with their name as LATEST_BY_OFFSET(name) (a person's
--   name never changes); Flink groups by (id, name). Sellers are grouped by seller with a
--   COUNT(*) because a ksqlDB aggregation needs an aggregate function.
-- * Flink's join is a regular join on (id, window start, window end); here it is a
--   stream-stream join on the id WITHIN the window size, filtered on equal window starts.
CREATE TABLE nexmark_q8_people AS
  SELECT id, AS_VALUE(id) AS person_id, LATEST_BY_OFFSET(name) AS name, WINDOWSTART AS starttime
  FROM person
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 4 SECONDS)
  GROUP BY id EMIT FINAL;

CREATE TABLE nexmark_q8_sellers AS
  SELECT seller, AS_VALUE(seller) AS seller_id, WINDOWSTART AS starttime, COUNT(*) AS auctions
  FROM auction
  WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 4 SECONDS)
  GROUP BY seller EMIT FINAL;

CREATE STREAM nexmark_q8_new_people (person_id BIGINT, name STRING, starttime BIGINT)
  WITH (KAFKA_TOPIC='NEXMARK_Q8_PEOPLE', VALUE_FORMAT='JSON');

CREATE STREAM nexmark_q8_active_sellers (seller_id BIGINT, starttime BIGINT, auctions BIGINT)
  WITH (KAFKA_TOPIC='NEXMARK_Q8_SELLERS', VALUE_FORMAT='JSON');

CREATE STREAM nexmark_q8 AS
  SELECT p.person_id AS id, p.name AS name, p.starttime AS starttime
  FROM nexmark_q8_new_people p JOIN nexmark_q8_active_sellers a WITHIN 10 SECONDS
    ON p.person_id = a.seller_id
  WHERE p.starttime = a.starttime;
