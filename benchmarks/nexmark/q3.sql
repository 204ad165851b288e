-- Nexmark q3: local item suggestion. Who is selling in Oregon, Idaho or California in
-- category 10, and for what auction ids? An incremental join with per-key state.
--
-- Differences from Flink's nexmark q3:
-- * Flink joins the auction and person streams with a regular (unbounded) inner join; ksqlDB
--   joins streams only within a time window, so both sides are tables keyed by id and the join
--   is a foreign-key table-table join (auction.seller -> person.id). Every auction and person
--   id occurs once, so the joined rows are exactly Flink's; a person who arrives after their
--   auction still matches, as in Flink.
-- * The filter runs after the join (ksqlDB applies WHERE to the join result), and on a table
--   a non-matching row becomes a delete of its key rather than disappearing: the discarding
--   sink receives those deletes too.
-- * The `nexmark` crate's states are lower-case ('or', 'id', 'ca'); Flink's generator writes
--   'OR', 'ID', 'CA'.
CREATE TABLE nexmark_q3 AS
  SELECT a.id AS id, p.name AS name, p.city AS city, p.state AS state
  FROM auction_by_id a JOIN person_by_id p ON a.seller = p.id
  WHERE a.category = 10 AND (p.state = 'or' OR p.state = 'id' OR p.state = 'ca');
