//! Connectors from SQL on the real server: `CREATE SOURCE CONNECTOR` over a directory of
//! Debezium change events, a `DEBEZIUM_JSON` table and a stream over its topic, a CTAS
//! aggregate, `SHOW CONNECTORS` / `DESCRIBE CONNECTOR` counters (a malformed line is
//! dead-lettered), and a restart after which the connector is still there and picks up a new
//! file without re-reading the old ones.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sql_server::{SqlServer, client};

fn event(op: &str, before: Value, after: Value, lsn: u64) -> String {
    json!({"before": before, "after": after, "source": {"lsn": lsn, "table": "customers"}, "op": op, "ts_ms": 1_717_000_000_000u64 + lsn})
        .to_string()
}

fn customer(id: i64, name: &str, country: &str) -> Value {
    json!({"id": id, "name": name, "country": country})
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Rows of a pull query over `/query-stream` (without the header line), sorted.
fn pull(server: &SqlServer, sql: &str) -> Vec<Value> {
    let Ok(resp) = client::post(&server.http, "/query-stream", &json!({"sql": sql})) else {
        return Vec::new();
    };
    if resp.status != 200 {
        return Vec::new();
    }
    let mut rows: Vec<Value> =
        resp.lines().map_while(Result::ok).skip(1).filter_map(|l| serde_json::from_str(&l).ok()).collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// Polls `f` until it returns `Some`, for up to 30 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn describe(server: &SqlServer) -> Value {
    let (status, body) = server.ksql("DESCRIBE CONNECTOR cust;", json!({}));
    assert_eq!(status, 200, "{body}");
    body[0].clone()
}

#[test]
fn cdc_connector_from_sql_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cdc = dir.path().join("cdc");
    std::fs::create_dir(&cdc).unwrap();
    write_lines(
        &cdc.join("000-snapshot.json"),
        &[
            event("r", Value::Null, customer(1, "Sally", "US"), 10),
            event("r", Value::Null, customer(2, "George", "US"), 10),
            event("r", Value::Null, customer(3, "Edward", "UK"), 10),
            r#"{"before":null,"after":{"id":"#.to_string() + "\u{1}broken",
            event("u", customer(1, "Sally", "US"), customer(1, "Sally", "FR"), 11),
            event("d", customer(2, "George", "US"), Value::Null, 12),
        ],
    );
    let data = dir.path().join("data");
    let server = SqlServer::start(&data);
    let earliest = json!({"auto.offset.reset": "earliest"});

    let create = format!(
        "CREATE SOURCE CONNECTOR cust WITH ('connector'='file', 'path'='{}', 'format'='debezium_json', \
         'topic'='shop.customers', 'key'='id', 'pattern'='*.json', 'poll_interval_ms'=50, 'commit_interval_ms'=100);",
        cdc.display()
    );
    let (status, body) = server.ksql(&create, json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["@type"], "currentStatus");
    assert_eq!(body[0]["commandStatus"]["message"], "Created source connector cust");
    let (status, err) = server.ksql(&create, json!({}));
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("connector cust already exists"), "{err}");
    let (status, err) =
        server.ksql("CREATE SINK CONNECTOR s WITH ('connector'='ftp', 'path'='x', 'topic'='t');", json!({}));
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("use 'file' or 'parquet'"), "{err}");

    // Every line read: 3 snapshot rows, an update, a delete (marker + tombstone); one line
    // dead-lettered.
    let d = eventually("the connector to read the snapshot", || {
        let d = describe(&server);
        (d["metrics"]["recordsIn"] == 6).then_some(d)
    });
    assert_eq!(d["@type"], "connector_description");
    assert_eq!(d["status"]["connector"]["state"], "RUNNING");
    assert_eq!(d["topics"], json!(["shop.customers"]));
    assert_eq!(d["metrics"]["deadLettered"], 1, "{d}");
    assert_eq!(d["metrics"]["recordsOut"], 6, "{d}");
    assert_eq!(d["dlqTopic"], "shop.customers.dlq");

    let (status, body) = server.ksql(
        "CREATE TABLE customers (id INT PRIMARY KEY, name STRING, country STRING)
           WITH (KAFKA_TOPIC='shop.customers', VALUE_FORMAT='DEBEZIUM_JSON');
         CREATE STREAM customer_changes (id INT KEY, name STRING, country STRING)
           WITH (KAFKA_TOPIC='shop.customers', VALUE_FORMAT='DEBEZIUM_JSON');
         CREATE TABLE changes_by_country AS
           SELECT country, COUNT(*) AS n FROM customer_changes GROUP BY country EMIT CHANGES;",
        earliest.clone(),
    );
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.ksql("SHOW CONNECTORS;", json!({}));
    assert_eq!(list[0]["@type"], "connector_list");
    assert_eq!(
        list[0]["connectors"],
        json!([{"name": "cust", "type": "SOURCE", "className": "file", "state": "RUNNING", "topic": "shop.customers"}])
    );
    let d = describe(&server);
    assert_eq!(d["sources"], json!([{"name": "CUSTOMERS"}, {"name": "CUSTOMER_CHANGES"}]), "{d}");

    // The table holds the current rows; the aggregate counts every row state by country.
    let current = json!([[1, "Sally", "FR"], [3, "Edward", "UK"]]);
    eventually("the table", || {
        let rows = pull(&server, "SELECT id, name, country FROM customers;");
        (Value::from(rows.clone()) == current).then_some(rows)
    });
    let counts = json!([["FR", 1], ["UK", 1], ["US", 2]]);
    eventually("the aggregate", || {
        let rows = pull(&server, "SELECT country, n FROM changes_by_country;");
        (Value::from(rows.clone()) == counts).then_some(rows)
    });

    // Restart with a new file: the connector comes back and reads only the new file.
    assert!(server.stop(), "server did not stop cleanly");
    write_lines(
        &cdc.join("001-changes.json"),
        &[
            event("c", Value::Null, customer(4, "Ann", "DE"), 20),
            event("u", customer(3, "Edward", "UK"), customer(3, "Edward", "DE"), 21),
        ],
    );
    let server = SqlServer::start(&data);
    let (_, list) = server.ksql("SHOW SOURCE CONNECTORS;", json!({}));
    assert_eq!(list[0]["connectors"][0]["name"], "cust", "{list}");
    let d = eventually("the connector to read the new file", || {
        let d = describe(&server);
        (d["metrics"]["recordsIn"] == 8).then_some(d)
    });
    assert_eq!(d["metrics"]["deadLettered"], 1, "{d}");
    assert_eq!(d["metrics"]["recordsOut"], 8, "{d}");
    assert_eq!(d["metrics"]["filesDone"], 2, "{d}");
    let current = json!([[1, "Sally", "FR"], [3, "Edward", "DE"], [4, "Ann", "DE"]]);
    eventually("the table after the restart", || {
        let rows = pull(&server, "SELECT id, name, country FROM customers;");
        (Value::from(rows.clone()) == current).then_some(rows)
    });
    // Nothing counted twice: the old file was not read again.
    let counts = json!([["DE", 2], ["FR", 1], ["UK", 1], ["US", 2]]);
    let rows = eventually("the aggregate after the restart", || {
        let rows = pull(&server, "SELECT country, n FROM changes_by_country;");
        (rows.len() == 4).then_some(rows)
    });
    assert_eq!(Value::from(rows), counts);

    let (status, body) = server.ksql("DROP CONNECTOR cust;", json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, list) = server.ksql("SHOW CONNECTORS;", json!({}));
    assert_eq!(list[0]["connectors"], json!([]));
    let (status, err) = server.ksql("DESCRIBE CONNECTOR cust;", json!({}));
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("connector cust does not exist"), "{err}");
    assert!(server.stop());
}
