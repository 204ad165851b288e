"""Writes the seed corpora of the SQL, JSON/Debezium and key targets (the broker targets'
seeds come from capture_corpus.py):

  python3 fuzz/seed_corpus.py

* corpus/sql_statement: every statement of sql/tests/slt/*.slt (one file each), plus
  hand-picked statements over the fuzz catalog (src/sql_statement.rs) with nested types,
  casts, joins, windows and long expressions.
* corpus/record_value: the JSON values of the .slt files' INSERTs, hand-picked values of the
  target's nested schema, batches of them (NUL-separated) and deeply nested values.
* corpus/debezium: the change events of examples/data/cdc and sql/tests/slt/debezium_json.slt,
  with and without a record key (`key TAB event`).
* corpus/keys: windowed keys (time and session), length-prefixed store keys, KAFKA, JSON,
  DELIMITED and key-document keys.

Seeds are named by the hash of their content; regression-* seeds (crashes found) are kept.
"""

import glob
import hashlib
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def clear(target):
    d = os.path.join(HERE, "corpus", target)
    for f in glob.glob(os.path.join(d, "*")):
        if not os.path.basename(f).startswith("regression-"):
            os.remove(f)


def slt_statements():
    for path in sorted(glob.glob(os.path.join(ROOT, "sql/tests/slt/*.slt"))):
        lines = open(path).read().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].startswith(("statement ", "query ")):
                j = i + 1
                body = []
                while j < len(lines) and lines[j].strip() and lines[j] != "----":
                    body.append(lines[j])
                    j += 1
                yield "\n".join(body)
                i = j
            i += 1


SQL = [
    "SELECT id, address->city, address->geo->lat, tags[1], attrs['a'], lines[1]->sku FROM orders EMIT CHANGES;",
    "SELECT CAST(tags AS ARRAY<STRING>), CAST(amount AS DECIMAL(12, 3)), CAST(raw AS STRING) FROM orders EMIT CHANGES;",
    "CREATE STREAM nested (a ARRAY<MAP<STRING, STRUCT<x ARRAY<INT>, y ADDRESS_T>>>) WITH (KAFKA_TOPIC='n', VALUE_FORMAT='JSON', PARTITIONS=1);",
    "CREATE TYPE deep AS ARRAY<ARRAY<ARRAY<STRUCT<a MAP<STRING, ARRAY<INT>>>>>>;",
    "SELECT o.id, c.name, c.country FROM orders o JOIN customers c ON o.customer = c.id EMIT CHANGES;",
    "SELECT o.id, a.owner FROM orders o LEFT JOIN accounts a ON CAST(o.id AS INT) = a.id EMIT CHANGES;",
    "CREATE TABLE hop AS SELECT customer, COUNT(*) AS n, MAX(amount) FROM orders WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS) GROUP BY customer HAVING COUNT(*) > 1 EMIT CHANGES;",
    "SELECT customer, WINDOWSTART, WINDOWEND, COUNT(*) FROM orders WINDOW SESSION (30 SECONDS) GROUP BY customer EMIT CHANGES;",
    "SELECT * FROM per_customer WHERE customer = 'a' AND WINDOWSTART >= 0;",
    "SELECT * FROM totals WHERE customer = 'x';",
    "INSERT INTO orders SELECT * FROM orders WHERE amount > 10 PARTITION BY customer;",
    "EXPLAIN SELECT page, COUNT(*) FROM clicks GROUP BY page EMIT CHANGES;",
    "SELECT " + " + ".join(["amount"] * 200) + " FROM orders EMIT CHANGES;",
    "SELECT " + " OR ".join(f"id = {i}" for i in range(100)) + " FROM orders EMIT CHANGES;",
    "SELECT " + "(" * 40 + "amount" + ")" * 40 + " FROM orders EMIT CHANGES;",
    "SELECT CASE WHEN amount > 1 THEN 'a' WHEN amount > 2 THEN 'b' ELSE NULL END, COALESCE(customer, 'x'), ARRAY[1, 2], MAP('a' := 1), STRUCT(a := 1) FROM orders EMIT CHANGES;",
    "SELECT LATEST_BY_OFFSET(amount), COLLECT_LIST(customer), TOPK(amount, 3) FROM orders GROUP BY id EMIT CHANGES;",
    "SELECT a.id, b.id FROM orders a JOIN orders b WITHIN 1 HOUR ON a.customer = b.customer EMIT CHANGES;",
    "DEFINE x = 'orders'; SELECT * FROM ${x} EMIT CHANGES LIMIT 3;",
    "SET 'auto.offset.reset'='earliest'; SHOW STREAMS; DESCRIBE orders EXTENDED; SHOW QUERIES;",
]


def sql():
    clear("sql_statement")
    seen = set()
    for s in list(slt_statements()) + SQL:
        if s not in seen:
            seen.add(s)
            write("sql_statement", s)


VALUES = [
    '{"id": 1, "name": "a", "price": 12.5, "score": 1e3, "ok": true, "at": 1700000000000, "day": 19000, "raw": "AAE=",'
    ' "tags": [[1, 2], [], null], "attrs": {"x": [1.5, null]}, "address": {"city": "c", "geo": {"lat": 1, "lon": 2},'
    ' "lines": [{"n": 1}, {"N": 2}]}}',
    '{"ID": "7", "Name": 5, "PRICE": "1.005", "tags": [["1"]], "ADDRESS": {"City": null}}',
    '{"id": 9223372036854775808, "score": "NaN", "ok": "yes", "at": "2023-01-01T00:00:00Z", "raw": "not base64"}',
    '{}',
    'null',
    '[]',
    '{"id": 1,',
    '{"id": 1} {"id": 2}',
    '{"address": {"lines": [{"n": [[[[[[1]]]]]]}]}}',
    '{"tags": ' + "[" * 127 + "]" * 127 + '}',
    '{"tags": ' + "[" * 129 + "]" * 129 + '}',
    '{"x": "' + "[" * 300 + '"}',
    '{"city": "x", "geo": {"lat": 1}, "lines": []}',
]


def record_value():
    clear("record_value")
    for v in VALUES:
        write("record_value", v)
    write("record_value", "\0".join(VALUES[:4]))
    write("record_value", "\0".join(VALUES))
    for s in slt_statements():
        for m in re.finditer(r"'(\{[^']*\})'", s):
            write("record_value", m.group(1))


def debezium():
    clear("debezium")
    events = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples/data/cdc/*/*.json"))):
        for line in open(path):
            if line.strip():
                events.append(line.rstrip("\n"))
    for s in slt_statements():
        if "DEBEZIUM" in s or '"op"' in s:
            for m in re.finditer(r"'(\{[^']*\})', '(\{[^']*\})'", s):
                events.append(m.group(1) + "\t" + m.group(2))
            for m in re.finditer(r"'(\{[^']*\"op\"[^']*\})'", s):
                events.append(m.group(1))
    events += [
        '{"ID": 1, "name": "x"}\t{"before": null, "after": {"id": 1, "name": "x", "tags": [[1]]}, "op": "c"}',
        '{"id": 2}\t{"before": {"id": 2, "name": "y"}, "after": {"id": 3, "name": "y"}, "op": "u"}',
        '{"before": {"id": 4, "name": "z"}, "after": null, "op": "d"}',
        '{"schema": {}, "payload": null}',
        '{"id": 5, "name": "f", "__op": "d", "__deleted": "true"}',
        '{"op": "t"}',
        '{"op": "m"}',
        '{"key": {"id": 1}, "value": {"op": "c", "after": {"id": 1}}}',
        '{"op": "c", "after": {"id": 1}, "source": ' + '{"a":' * 130 + "1" + "}" * 130 + "}",
    ]
    for e in dict.fromkeys(events):
        write("debezium", e)


def keys():
    clear("keys")
    be = lambda v: struct.pack(">q", v)
    seeds = [
        b"user-1" + be(60_000),
        b"k" + be(2_000) + be(1_000),
        be(-1),
        be(2**63 - 1) + be(-(2**63)),
        struct.pack(">I", 3) + b"key" + b"rest",
        struct.pack(">I", 0xFFFFFFFF) + b"x",
        struct.pack(">i", -7),
        b'{"id": 1, "region": "eu", "at": 1700000000000}',
        b'{"line":2,"order_id":7}',
        b'"just a string"',
        b"1,eu,1700000000000",
        b'1,"e,u",',
        b"42",
        b"",
        b"\xff\xfe\xfd",
        b'{"ID": 1}\0{"id": 2}\x002,x,3',
    ]
    for s in seeds:
        write("keys", s)


if __name__ == "__main__":
    sql()
    record_value()
    debezium()
    keys()
    for t in ["sql_statement", "record_value", "debezium", "keys"]:
        d = os.path.join(HERE, "corpus", t)
        files = os.listdir(d)
        print(t, len(files), "seeds,", sum(os.path.getsize(os.path.join(d, f)) for f in files), "bytes")
