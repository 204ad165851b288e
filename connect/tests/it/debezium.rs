//! The Debezium source end to end: every op and envelope form, tombstones, primary-key
//! changes, replayed duplicates, truncated last lines and malformed lines.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_client::EmbeddedCluster;
use brook_connect::metrics::Metrics;
use brook_connect::source::FileSource;
use brook_connect::{RunEnd, StopSignal};
use serde_json::{Value, json};

use crate::{header, ingest, open_broker, read_topic, source_config, table_of, write_lines};

/// A Postgres-style envelope line.
fn pg(op: &str, before: Value, after: Value, lsn: u64) -> String {
    json!({"before": before, "after": after, "op": op, "ts_ms": 1_700_000_000_000u64 + lsn,
           "source": {"connector": "postgresql", "db": "inventory", "table": "customers",
                      "ts_ms": 1_700_000_000_000u64 + lsn, "lsn": lsn}})
    .to_string()
}

fn cdc_props<'a>(path: &'a str, topic: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("connector", "file"), ("path", path), ("format", "debezium_json"), ("topic", topic), ("key", "id")]
}

fn ops(records: &[crate::Rec], key: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.key.as_deref() == Some(key))
        .map(|r| match &r.value {
            None => "tombstone".to_string(),
            Some(v) => v["op"].as_str().unwrap_or("?").to_string(),
        })
        .collect()
}

#[test]
fn every_op_and_envelope_form() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("customers.json");
    let ada = json!({"id": 1, "name": "Ada"});
    let ada2 = json!({"id": 1, "name": "Ada L."});
    let bob = json!({"id": 2, "name": "Bob"});
    let cy = json!({"id": 3, "name": "Cy"});
    let di = json!({"id": 4, "name": "Di"});
    let snapshot_ada = pg("r", Value::Null, ada.clone(), 100);
    let wrapped_bob = json!({"schema": {"type": "struct", "name": "pg.inventory.customers.Envelope"},
                             "payload": serde_json::from_str::<Value>(&pg("r", Value::Null, bob.clone(), 100)).unwrap()})
    .to_string();
    let record_cy = json!({"key": {"id": 3}, "value": serde_json::from_str::<Value>(&pg("c", Value::Null, cy.clone(), 101)).unwrap()}).to_string();
    let update_ada = pg("u", ada.clone(), ada2.clone(), 102);
    let delete_bob = pg("d", bob.clone(), Value::Null, 103);
    let tab_di = format!("{{\"id\":4}}\t{}", pg("c", Value::Null, di.clone(), 104));
    let delete_di = json!({"key": {"schema": {}, "payload": {"id": 4}},
                           "value": serde_json::from_str::<Value>(&pg("d", di.clone(), Value::Null, 105)).unwrap()}).to_string();
    let tombstone_di = r#"{"key":{"id":4},"value":null}"#;
    let flat_create = r#"{"id":5,"name":"Eve","__op":"c","__lsn":106,"__source_ts_ms":1700000000106}"#;
    let flat_update = r#"{"id":5,"name":"Eve K.","__op":"u","__lsn":107}"#;
    let flat_delete = r#"{"id":3,"name":"Cy","__deleted":"true","__lsn":108}"#;
    let flat_no_op = r#"{"id":6,"name":"Fay","__lsn":109}"#;
    let message = json!({"op": "m", "source": {"lsn": 110}, "message": {"prefix": "x"}}).to_string();
    let lines = [
        snapshot_ada.as_str(),
        wrapped_bob.as_str(),
        record_cy.as_str(),
        update_ada.as_str(),
        delete_bob.as_str(),
        "null",
        tab_di.as_str(),
        delete_di.as_str(),
        tombstone_di,
        flat_create,
        flat_update,
        flat_delete,
        "",
        flat_no_op,
        message.as_str(),
    ];
    write_lines(&input, &lines);
    let path = input.to_string_lossy().into_owned();
    let m = ingest(&broker, "customers", &cdc_props(&path, "customers"));

    let records = read_topic(&broker, "customers");
    assert_eq!(ops(&records, r#"{"id":1}"#), vec!["r", "u"]);
    assert_eq!(ops(&records, r#"{"id":2}"#), vec!["r", "d", "tombstone"]);
    assert_eq!(ops(&records, r#"{"id":3}"#), vec!["c", "d", "tombstone"]);
    assert_eq!(ops(&records, r#"{"id":4}"#), vec!["c", "d", "tombstone"]);
    assert_eq!(ops(&records, r#"{"id":5}"#), vec!["c", "u"]);
    assert_eq!(
        ops(&records, r#"{"id":6}"#),
        vec!["c"],
        "the flattened form without __op is an insert of a new row"
    );
    let table = table_of(&records);
    assert_eq!(
        table.into_iter().collect::<Vec<_>>(),
        vec![
            (r#"{"id":1}"#.to_string(), ada2),
            (r#"{"id":5}"#.to_string(), json!({"id": 5, "name": "Eve K."})),
            (r#"{"id":6}"#.to_string(), json!({"id": 6, "name": "Fay"})),
        ]
    );
    // An envelope line is written byte for byte; other forms become envelopes.
    let first = records.iter().find(|r| r.key.as_deref() == Some(r#"{"id":1}"#)).unwrap();
    assert_eq!(first.raw_value.as_deref(), Some(snapshot_ada.as_bytes()));
    let bob_r = records.iter().find(|r| r.key.as_deref() == Some(r#"{"id":2}"#)).unwrap();
    assert_eq!(bob_r.value.as_ref().unwrap()["after"], bob);
    let flat = records.iter().find(|r| r.key.as_deref() == Some(r#"{"id":5}"#)).unwrap();
    assert_eq!(flat.value.as_ref().unwrap()["source"]["lsn"], json!(106));
    assert_eq!(header(flat, "brook.cdc.position"), Some("pg|106"));
    assert_eq!(header(first, "brook.connector"), Some("customers"));
    assert!(header(first, "brook.source").unwrap().ends_with(&format!(":{}:0:{path}", snapshot_ada.len())));
    // Counters: every line in, tombstone lines, blank line and the message skipped.
    assert_eq!(m.records_in, lines.len() as u64);
    assert_eq!(m.records_out, records.len() as u64);
    assert_eq!((m.dlq, m.skipped, m.duplicates), (0, 4, 0));
    // The topic is compacted, like a table's changelog.
    let config = broker.describe_topic("customers").unwrap().config;
    assert_eq!(config.get("cleanup.policy").map(|c| c.0), Some("compact".to_string()));
}

#[test]
fn truncate_deletes_every_existing_row() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("t.json");
    let row = |id: u64| json!({"id": id, "name": format!("n{id}")});
    let lines = [
        pg("r", Value::Null, row(1), 10),
        pg("r", Value::Null, row(2), 10),
        pg("r", Value::Null, row(3), 10),
        pg("d", row(2), Value::Null, 11),
        json!({"op": "t", "before": null, "after": null, "source": {"lsn": 12, "table": "customers"}})
            .to_string(),
        pg("c", Value::Null, row(4), 13),
    ];
    write_lines(&input, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    ingest(&broker, "t", &cdc_props(&input.to_string_lossy(), "t"));
    let records = read_topic(&broker, "t");
    assert_eq!(ops(&records, r#"{"id":1}"#), vec!["r", "tombstone"]);
    assert_eq!(
        ops(&records, r#"{"id":2}"#),
        vec!["r", "d", "tombstone"],
        "a deleted row is not deleted again"
    );
    assert_eq!(ops(&records, r#"{"id":3}"#), vec!["r", "tombstone"]);
    assert_eq!(table_of(&records).keys().collect::<Vec<_>>(), vec![r#"{"id":4}"#]);
}

#[test]
fn primary_key_changes_move_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("pk.json");
    let a = json!({"id": 1, "name": "A"});
    let a_moved = json!({"id": 10, "name": "A"});
    let b = json!({"id": 2, "name": "B"});
    let b_moved = json!({"id": 20, "name": "B"});
    let lines = [
        pg("c", Value::Null, a.clone(), 1),
        pg("c", Value::Null, b.clone(), 2),
        // Debezium's own form: a delete of the old key, its tombstone, a create of the new key.
        pg("d", a.clone(), Value::Null, 3),
        "null".to_string(),
        pg("c", Value::Null, a_moved.clone(), 4),
        // An update that changes the key (as other tools emit it).
        pg("u", b.clone(), b_moved.clone(), 5),
    ];
    write_lines(&input, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    ingest(&broker, "pk", &cdc_props(&input.to_string_lossy(), "pk"));
    let records = read_topic(&broker, "pk");
    assert_eq!(ops(&records, r#"{"id":2}"#), vec!["c", "d", "tombstone"]);
    assert_eq!(ops(&records, r#"{"id":20}"#), vec!["c"]);
    let marker = records
        .iter()
        .find(|r| r.key.as_deref() == Some(r#"{"id":2}"#) && r.value.as_ref().is_some_and(|v| v["op"] == "d"))
        .unwrap();
    assert_eq!(marker.value.as_ref().unwrap()["before"], b);
    let table = table_of(&records);
    assert_eq!(
        table.into_iter().collect::<Vec<_>>(),
        vec![(r#"{"id":10}"#.to_string(), a_moved), (r#"{"id":20}"#.to_string(), b_moved),]
    );
}

#[test]
fn replayed_events_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("replay.json");
    let v = |n: &str| json!({"id": 1, "name": n});
    let create = pg("c", Value::Null, v("a"), 10);
    let update = pg("u", v("a"), v("b"), 20);
    let delete = pg("d", v("b"), Value::Null, 30);
    let mysql = |row: u64, name: &str, pos: u64| {
        json!({"before": null, "after": {"id": 100 + row, "name": name}, "op": "c",
               "source": {"connector": "mysql", "file": "mysql-bin.000003", "pos": pos, "row": row}})
        .to_string()
    };
    let (m0, m1) = (mysql(0, "x", 154), mysql(1, "y", 154));
    let lines = [
        create.as_str(),
        update.as_str(),
        create.as_str(), // replay of an older event: must not roll the row back
        update.as_str(), // replay of the same event
        delete.as_str(),
        "",
        update.as_str(), // replay after the delete: must not resurrect the row
        m0.as_str(),
        m1.as_str(), // same binlog position, another row of the same event: applied
        m0.as_str(), // replay
    ];
    write_lines(&input, &lines);
    let m = ingest(&broker, "replay", &cdc_props(&input.to_string_lossy(), "replay"));
    let records = read_topic(&broker, "replay");
    assert_eq!(ops(&records, r#"{"id":1}"#), vec!["c", "u", "d", "tombstone"]);
    assert_eq!(ops(&records, r#"{"id":100}"#), vec!["c"]);
    assert_eq!(ops(&records, r#"{"id":101}"#), vec!["c"]);
    assert_eq!((m.duplicates, m.skipped), (4, 5));

    // Ingesting the same events again — a second file replaying the stream — changes nothing.
    let again = dir.path().join("replay-2.json");
    write_lines(&again, &lines);
    let m2 = ingest(&broker, "replay", &cdc_props(&again.to_string_lossy(), "replay"));
    assert_eq!(read_topic(&broker, "replay").len(), records.len());
    assert_eq!(m2.duplicates, m.duplicates + 9);
}

#[test]
fn key_documents_give_the_key_without_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("lines.json");
    let line = json!({"key": {"order_id": 7, "line": 2},
                      "value": {"op": "c", "after": {"order_id": 7, "line": 2, "qty": 3}, "source": {"lsn": 5}}})
    .to_string();
    write_lines(&input, &[&line]);
    let props = vec![
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "debezium_json"),
        ("topic", "lines"),
    ];
    ingest(&broker, "lines", &props);
    let records = read_topic(&broker, "lines");
    assert_eq!(records[0].key.as_deref(), Some(r#"{"line":2,"order_id":7}"#));
}

#[test]
fn malformed_lines_go_to_the_dead_letter_topic_and_the_source_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("bad.json");
    let good1 = pg("c", Value::Null, json!({"id": 1, "name": "ok"}), 1);
    let good2 = pg("c", Value::Null, json!({"id": 2, "name": "ok"}), 2);
    let no_key = pg("c", Value::Null, json!({"name": "no id"}), 3);
    let lines = [
        good1.as_str(),
        r#"{"op":"c","after":{"id":"#,
        "[1,2]",
        good2.as_str(),
        no_key.as_str(),
        r#"{"op":"x"}"#,
    ];
    write_lines(&input, &lines);
    let path = input.to_string_lossy().into_owned();
    let m = ingest(&broker, "bad", &cdc_props(&path, "bad"));
    assert_eq!((m.records_in, m.records_out, m.dlq), (6, 2, 4));
    assert_eq!(read_topic(&broker, "bad").len(), 2);
    let dlq = read_topic(&broker, "bad.dlq");
    let letters: Vec<(u64, String, String)> = dlq
        .iter()
        .map(|r| {
            let v = r.value.as_ref().unwrap();
            assert_eq!(v["file"].as_str(), Some(path.as_str()));
            assert_eq!(v["connector"], "bad");
            (
                v["line"].as_u64().unwrap(),
                v["raw"].as_str().unwrap().to_string(),
                v["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(letters.iter().map(|l| l.0).collect::<Vec<_>>(), vec![2, 3, 5, 6]);
    assert_eq!(letters[0].1, r#"{"op":"c","after":{"id":"#);
    assert!(letters[0].2.starts_with("not valid JSON"), "{}", letters[0].2);
    assert!(letters[1].2.contains("found an array"), "{}", letters[1].2);
    assert!(letters[2].2.contains("key column 'id' is missing"), "{}", letters[2].2);
    assert!(letters[3].2.contains("unknown op 'x'"), "{}", letters[3].2);
}

/// Runs a follow-mode source on a thread.
struct Running {
    metrics: Arc<Metrics>,
    stop: Arc<StopSignal>,
    thread: std::thread::JoinHandle<brook_connect::Result<RunEnd>>,
}

fn follow(broker: &brook_broker::Broker, name: &str, props: &[(&str, &str)]) -> Running {
    let mut props = props.to_vec();
    props.push(("poll_interval_ms", "10"));
    props.push(("commit_interval_ms", "50"));
    let config = source_config(name, &props);
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(StopSignal::new());
    let (m, s, b, n) = (metrics.clone(), stop.clone(), broker.clone(), name.to_string());
    let thread =
        std::thread::spawn(move || FileSource::new(&n, config, Arc::new(EmbeddedCluster::new(b)), m).run(&s));
    Running { metrics, stop, thread }
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_truncated_last_line_is_read_once_complete_and_never_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("growing.json");
    let line1 = pg("c", Value::Null, json!({"id": 1, "name": "one"}), 1);
    let line2 = pg("c", Value::Null, json!({"id": 2, "name": "two"}), 2);
    let line3 = pg("c", Value::Null, json!({"id": 3, "name": "three"}), 3);
    let line4 = pg("c", Value::Null, json!({"id": 4, "name": "four"}), 4);
    let mut f = std::fs::File::create(&input).unwrap();
    // The writer is in the middle of line 2.
    write!(f, "{line1}\n{}", &line2[..line2.len() / 2]).unwrap();
    f.flush().unwrap();
    let path = input.to_string_lossy().into_owned();
    let run = follow(&broker, "growing", &cdc_props(&path, "growing"));
    wait_for("line 1", || run.metrics.snapshot().records_in == 1);
    std::thread::sleep(Duration::from_millis(100));
    let m = run.metrics.snapshot();
    assert_eq!((m.records_in, m.dlq), (1, 0), "half a line is neither read nor dead-lettered");

    // The rest of line 2 arrives, then line 3 without its newline (a complete JSON document).
    write!(f, "{}\n{line3}", &line2[line2.len() / 2..]).unwrap();
    f.flush().unwrap();
    wait_for("lines 2 and 3", || run.metrics.snapshot().records_in == 3);
    // Line 3's newline arrives later, with line 4: the newline does not make an extra line.
    writeln!(f, "\n{line4}").unwrap();
    f.flush().unwrap();
    wait_for("line 4", || run.metrics.snapshot().records_in == 4);
    run.stop.stop();
    assert_eq!(run.thread.join().unwrap().unwrap(), RunEnd::Stopped);
    let m = run.metrics.snapshot();
    assert_eq!((m.records_out, m.dlq, m.skipped), (4, 0, 0));
    let keys: Vec<String> = read_topic(&broker, "growing").into_iter().filter_map(|r| r.key).collect();
    assert_eq!(keys, vec![r#"{"id":1}"#, r#"{"id":2}"#, r#"{"id":3}"#, r#"{"id":4}"#]);
    assert!(broker.topic("growing.dlq").is_ok_and(|t| t.partitions()[0].stats().log_end_offset == 0));
}

#[test]
fn a_file_ending_mid_line_in_once_mode_dead_letters_the_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("cut.json");
    let line1 = pg("c", Value::Null, json!({"id": 1, "name": "one"}), 1);
    std::fs::write(&input, format!("{line1}\n{{\"op\":\"c\",\"aft")).unwrap();
    let m = ingest(&broker, "cut", &cdc_props(&input.to_string_lossy(), "cut"));
    assert_eq!((m.records_out, m.dlq), (1, 1));
    let dlq = read_topic(&broker, "cut.dlq");
    let error = dlq[0].value.as_ref().unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains("has no newline"), "{error}");
}
