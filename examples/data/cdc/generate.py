#!/usr/bin/env python3
"""Writes the inventory CDC dataset in this directory and prints the results the
`cdc_inventory` example must compute from it.

The dataset is what Debezium's PostgreSQL connector would have captured from a small shop
database (`inventory.customers`, `inventory.products`, `inventory.orders`): an initial
snapshot (op "r"), then inserts, updates, deletes with their tombstones, a primary-key change,
a truncate-free history, and one event Debezium delivered twice after a connector restart.
Three dump styles are used on purpose:

* customers/ - Debezium value payloads, one envelope per line (the key comes from the `id`
  column, configured with key = "id"), tombstones as `null` lines;
* products/  - Kafka records dumped with their key, {"key": {...}, "value": {...}} per line,
  tombstones as {"key": {...}, "value": null};
* orders/    - value payloads wrapped with their schema, {"schema": {...}, "payload": {...}}.

Run it again to regenerate the files: python3 examples/data/cdc/generate.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = {"version": "2.7.0.Final", "connector": "postgresql", "name": "shop", "db": "shop",
          "schema": "inventory"}

clock = [1717000000000]   # one event per millisecond, in commit order across tables
lsn = [33832760]
files = {}                # path -> lines
events = []               # (ts, table, op, before, after) in commit order, for the expected results


def tick():
    clock[0] += 1000
    return clock[0]


def envelope(table, op, before, after, snapshot=False):
    ts = tick()
    if not snapshot:
        lsn[0] += 328
    source = dict(SOURCE, ts_ms=ts, snapshot="true" if snapshot else "false", table=table,
                  txId=750 + (lsn[0] - 33832760) // 328, lsn=lsn[0], xmin=None)
    events.append((ts, table, op, before, after))
    return {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts + 37,
            "transaction": None}


def emit(path, line):
    files.setdefault(path, []).append(line)


def customer(path, op, before, after, snapshot=False):
    emit(path, json.dumps(envelope("customers", op, before, after, snapshot), separators=(",", ":")))
    if op == "d":
        emit(path, "null")


def product(path, op, before, after, snapshot=False):
    row = after or before
    value = envelope("products", op, before, after, snapshot)
    emit(path, json.dumps({"key": {"id": row["id"]}, "value": value}, separators=(",", ":")))
    if op == "d":
        emit(path, json.dumps({"key": {"id": row["id"]}, "value": None}, separators=(",", ":")))


ORDER_SCHEMA = {"type": "struct", "optional": False, "name": "shop.inventory.orders.Envelope", "fields": [
    {"field": "before", "type": "struct", "optional": True, "name": "shop.inventory.orders.Value", "fields": [
        {"field": "order_number", "type": "int32", "optional": False},
        {"field": "order_date", "type": "int32", "optional": False, "name": "io.debezium.time.Date"},
        {"field": "purchaser", "type": "int32", "optional": False},
        {"field": "quantity", "type": "int32", "optional": False},
        {"field": "product_id", "type": "int32", "optional": False}]},
    {"field": "after", "type": "struct", "optional": True, "name": "shop.inventory.orders.Value"},
    {"field": "source", "type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source"},
    {"field": "op", "type": "string", "optional": False},
    {"field": "ts_ms", "type": "int64", "optional": True}]}


def order(path, op, before, after, snapshot=False, replay_of=None):
    if replay_of is not None:
        emit(path, replay_of)
        return None
    line = json.dumps({"schema": ORDER_SCHEMA, "payload": envelope("orders", op, before, after, snapshot)},
                      separators=(",", ":"))
    emit(path, line)
    if op == "d":
        emit(path, "")
    return line


def c(id, first, last, email, country):
    return {"id": id, "first_name": first, "last_name": last, "email": email, "country": country}


def p(id, name, category, price_cents, weight):
    return {"id": id, "name": name, "category": category, "price_cents": price_cents, "weight": weight}


def o(number, date, purchaser, quantity, product_id):
    return {"order_number": number, "order_date": date, "purchaser": purchaser, "quantity": quantity,
            "product_id": product_id}


# --- snapshot: every table is read once (op "r"), customers first ---------------------------
customers = {
    1001: c(1001, "Sally", "Thomas", "sally.thomas@acme.com", "US"),
    1002: c(1002, "George", "Bailey", "gbailey@foobar.com", "US"),
    1003: c(1003, "Edward", "Walker", "ed@walker.com", "UK"),
    1004: c(1004, "Anne", "Kretchmar", "annek@noanswer.org", "DE"),
}
products = {
    101: p(101, "scooter", "vehicles", 34999, 3.14),
    102: p(102, "car battery", "vehicles", 8999, 8.1),
    103: p(103, "12-pack drill bits", "tools", 1599, 0.8),
    104: p(104, "hammer", "tools", 1299, 0.75),
    105: p(105, "hammer", "tools", 1499, 0.875),
    106: p(106, "hammer", "tools", 1899, 1.0),
    107: p(107, "rocks", "garden", 499, 5.3),
    108: p(108, "jacket", "apparel", 5999, 0.1),
    109: p(109, "spare tire", "vehicles", 7999, 22.2),
}
orders = {
    10001: o(10001, 16816, 1001, 1, 102),
    10002: o(10002, 16817, 1002, 2, 105),
    10003: o(10003, 16850, 1002, 2, 106),
    10004: o(10004, 16852, 1003, 1, 107),
}
for row in customers.values():
    customer("customers/000-snapshot.json", "r", None, row, snapshot=True)
for row in products.values():
    product("products/000-snapshot.json", "r", None, row, snapshot=True)
for row in orders.values():
    order("orders/000-snapshot.json", "r", None, row, snapshot=True)

# --- streaming: changes in commit order -----------------------------------------------------
C1, P1, O1, O2 = ("customers/001-changes.json", "products/001-changes.json",
                  "orders/001-changes.json", "orders/002-changes.json")
customer(C1, "c", None, c(1005, "Aiko", "Tanaka", "aiko@tanaka.jp", "JP"))
order(O1, "c", None, o(10005, 16900, 1005, 3, 103))
product(P1, "c", None, p(110, "bike helmet", "apparel", 4599, 0.4))
order(O1, "c", None, o(10006, 16901, 1001, 1, 110))
customer(C1, "u", customers[1001], dict(customers[1001], email="sally@acme.example"))
product(P1, "u", products[104], dict(products[104], price_cents=1399))
order(O1, "u", orders[10003], dict(orders[10003], quantity=5))
order(O1, "d", orders[10004], None)
product(P1, "d", products[107], None)
customer(C1, "u", customers[1004], dict(customers[1004], country="FR"))
order(O1, "c", None, o(10007, 16905, 1004, 2, 104))
# Edward Walker's id changes from 1003 to 1013: a delete of the old key and a create of the new.
customer(C1, "d", customers[1003], None)
customer(C1, "c", None, dict(customers[1003], id=1013))
replayed = order(O2, "c", None, o(10008, 16910, 1013, 4, 109))
order(O2, "u", o(10005, 16900, 1005, 3, 103), o(10005, 16900, 1005, 1, 108))
# George Bailey closes his account; his orders stay.
customer(C1, "d", customers[1002], None)
order(O2, "c", None, o(10009, 16912, 1001, 2, 101))
# Debezium restarted and delivered an event again (same position): applied once.
order(O2, None, None, None, replay_of=replayed)
product(P1, "u", products[108], dict(products[108], price_cents=4999))
order(O2, "c", None, o(10010, 16913, 1005, 1, 108))

for path, lines in files.items():
    os.makedirs(os.path.join(HERE, os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(HERE, path), "w") as f:
        f.write("\n".join(lines) + "\n")

# --- expected results of the example's topology ---------------------------------------------
# Its aggregates converge to SQL over the final state: orders joined with products (current
# price) and customers (current country; "unknown" for a deleted customer).
table = {"customers": {}, "products": {}, "orders": {}}
for ts, name, op, before, after in events:
    key = "order_number" if name == "orders" else "id"
    if before is not None:
        table[name].pop(before[key], None)
    if after is not None:
        table[name][after[key]] = after
by_category, by_country = {}, {}
for order in table["orders"].values():
    prod = table["products"].get(order["product_id"])
    if prod is None:
        continue
    cust = table["customers"].get(order["purchaser"])
    amount = order["quantity"] * prod["price_cents"]
    units, cents = by_category.get(prod["category"], (0, 0))
    by_category[prod["category"]] = (units + order["quantity"], cents + amount)
    country = cust["country"] if cust else "unknown"
    by_country[country] = by_country.get(country, 0) + amount

print("orders:", sorted(table["orders"]))
print("(units, cents) by category:", dict(sorted(by_category.items())))
print("cents by country:", dict(sorted(by_country.items())))
