-- CDC walk-through: a shop database's Debezium change events (examples/data/cdc/) become
-- tables that are joined and aggregated continuously. Run it from the repository root:
--
--   cargo run --release -p brook-cli --bin brook -- sql --data-dir /tmp/cdc-demo -f examples/sql/cdc_inventory.sql
--
-- The tables are declared first, with PARTITIONS=1, so their topics exist before the
-- connectors start writing to them (a connector uses a topic that exists as it is).

SET 'auto.offset.reset'='earliest';

-- 1. Tables over the change-event topics: inserts, updates and deletes apply as they come.
CREATE TABLE customers (id INT PRIMARY KEY, first_name STRING, last_name STRING, email STRING, country STRING)
  WITH (KAFKA_TOPIC='inventory.customers', VALUE_FORMAT='DEBEZIUM_JSON', PARTITIONS=1);
CREATE TABLE products (id INT PRIMARY KEY, name STRING, category STRING, price_cents BIGINT, weight DOUBLE)
  WITH (KAFKA_TOPIC='inventory.products', VALUE_FORMAT='DEBEZIUM_JSON', PARTITIONS=1);
CREATE TABLE orders (order_number INT PRIMARY KEY, order_date INT, purchaser INT, quantity INT, product_id INT)
  WITH (KAFKA_TOPIC='inventory.orders', VALUE_FORMAT='DEBEZIUM_JSON', PARTITIONS=1);

-- 2. Connectors read the Debezium files into those topics (and keep tailing the directories).
CREATE SOURCE CONNECTOR customers_src WITH ('connector'='file', 'path'='examples/data/cdc/customers',
  'pattern'='*.json', 'format'='debezium_json', 'topic'='inventory.customers', 'key'='id');
CREATE SOURCE CONNECTOR products_src WITH ('connector'='file', 'path'='examples/data/cdc/products',
  'pattern'='*.json', 'format'='debezium_json', 'topic'='inventory.products');
CREATE SOURCE CONNECTOR orders_src WITH ('connector'='file', 'path'='examples/data/cdc/orders',
  'pattern'='*.json', 'format'='debezium_json', 'topic'='inventory.orders', 'key'='order_number');

-- 3. Orders joined with their product (price, category) and their customer (country):
--    foreign-key table joins, so a changed price or a customer who moves updates the orders.
CREATE TABLE order_lines AS
  SELECT o.order_number AS order_number, o.purchaser AS purchaser, o.quantity AS quantity,
         p.name AS product, p.category AS category, o.quantity * p.price_cents AS amount_cents
  FROM orders o JOIN products p ON o.product_id = p.id EMIT CHANGES;
CREATE TABLE enriched_orders AS
  SELECT l.order_number AS order_number, c.last_name AS customer, c.country AS country,
         l.product AS product, l.category AS category, l.quantity AS quantity, l.amount_cents AS amount_cents
  FROM order_lines l JOIN customers c ON l.purchaser = c.id EMIT CHANGES;

-- 4. Continuous aggregates over the joined orders table: an updated order moves its units and
--    revenue, a deleted order takes them away, a category or country left without orders
--    disappears.
CREATE TABLE revenue_by_category AS
  SELECT category, COUNT(*) AS orders, SUM(quantity) AS units, SUM(amount_cents) AS revenue_cents
  FROM order_lines GROUP BY category EMIT CHANGES;
CREATE TABLE revenue_by_country AS
  SELECT country, COUNT(*) AS orders, SUM(amount_cents) AS revenue_cents
  FROM enriched_orders GROUP BY country EMIT CHANGES;

-- 5. Pull queries: the current state (the script waits for the connectors and queries first).
SELECT * FROM enriched_orders;
SELECT * FROM revenue_by_category;
SELECT * FROM revenue_by_country WHERE country = 'US';

-- 6. A push query: the changes of an aggregate as they happened, oldest first.
SELECT country, orders, revenue_cents FROM revenue_by_country EMIT CHANGES LIMIT 4;

SHOW CONNECTORS;
