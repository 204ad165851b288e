-- Nexmark sources, shared by every query file (run before it).
--
-- The generator (the `nexmark` crate, as RisingWave uses it) produces three event types,
-- interleaved 1 person : 3 auctions : 46 bids. `brook bench nexmark` writes each type to its
-- own topic as one JSON object per record, with the fields the generator names
-- (snake_case; times are epoch milliseconds):
--
--   nexmark-bid      key: none                value: {"auction", "bidder", "price", "channel", "url", "date_time", "extra"}
--   nexmark-auction  key: id (KAFKA BIGINT)   value: {"id", "item_name", "description", "initial_bid", "reserve",
--                                                      "date_time", "expires", "seller", "category", "extra"}
--   nexmark-person   key: id (KAFKA BIGINT)   value: {"id", "name", "email_address", "credit_card", "city", "state",
--                                                      "date_time", "extra"}
--
-- The bench creates the topics before running this file. Event time is `date_time`, as in
-- Flink's nexmark DDL (`WATERMARK FOR dateTime`); Flink's 4-second watermark delay appears
-- as the GRACE PERIOD of the windowed queries.

CREATE STREAM bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, date_time TIMESTAMP, extra STRING
) WITH (KAFKA_TOPIC='nexmark-bid', VALUE_FORMAT='JSON', TIMESTAMP='date_time');

CREATE STREAM auction (
  id BIGINT KEY, item_name STRING, description STRING, initial_bid BIGINT, reserve BIGINT,
  date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra STRING
) WITH (KAFKA_TOPIC='nexmark-auction', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', TIMESTAMP='date_time');

CREATE STREAM person (
  id BIGINT KEY, name STRING, email_address STRING, credit_card STRING, city STRING, state STRING,
  date_time TIMESTAMP, extra STRING
) WITH (KAFKA_TOPIC='nexmark-person', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', TIMESTAMP='date_time');

-- The same auctions and people as tables keyed by id, for the joins (each id is written once,
-- so a table holds exactly the rows of the stream).
CREATE TABLE auction_by_id (
  id BIGINT PRIMARY KEY, item_name STRING, description STRING, initial_bid BIGINT, reserve BIGINT,
  date_time TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra STRING
) WITH (KAFKA_TOPIC='nexmark-auction', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', TIMESTAMP='date_time');

CREATE TABLE person_by_id (
  id BIGINT PRIMARY KEY, name STRING, email_address STRING, credit_card STRING, city STRING, state STRING,
  date_time TIMESTAMP, extra STRING
) WITH (KAFKA_TOPIC='nexmark-person', KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON', TIMESTAMP='date_time');
