//! JSON-lines and CSV sources, and directory sources that pick up new files and follow growing
//! ones.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brook_client::EmbeddedCluster;
use brook_connect::StopSignal;
use brook_connect::metrics::Metrics;
use brook_connect::source::FileSource;
use serde_json::json;

use crate::{ingest, open_broker, read_topic, source_config, write_lines};

#[test]
fn json_lines_become_records_keyed_by_the_key_columns() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("events.jsonl");
    write_lines(&input, &[r#"{"user":"u1","n":1}"#, "", r#"  {"user":"u2","n":2}  "#, "not json", r#"[1]"#]);
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "json"),
        ("topic", "events"),
        ("key", "user"),
    ];
    let m = ingest(&broker, "events", &props);
    assert_eq!((m.records_in, m.records_out, m.skipped, m.dlq), (5, 2, 1, 2));
    let records = read_topic(&broker, "events");
    assert_eq!(records[0].key.as_deref(), Some(r#"{"user":"u1"}"#));
    assert_eq!(
        records[1].raw_value.as_deref(),
        Some(&br#"{"user":"u2","n":2}"#[..]),
        "values are written unchanged"
    );
    let dlq = read_topic(&broker, "events.dlq");
    assert!(dlq[1].value.as_ref().unwrap()["error"].as_str().unwrap().contains("must be a JSON object"));

    // Without key columns, any JSON value is a record with a null key.
    let props =
        [("connector", "file"), ("path", input.to_str().unwrap()), ("format", "json"), ("topic", "raw")];
    let m = ingest(&broker, "raw", &props);
    assert_eq!((m.records_out, m.dlq), (3, 1));
    assert!(read_topic(&broker, "raw").iter().all(|r| r.key.is_none()));
}

#[test]
fn json_lines_that_are_not_utf8_or_too_long_are_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("events.jsonl");
    let long = format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000));
    let mut text = Vec::new();
    text.extend_from_slice(b"{\"user\":\"u1\"}\n{\"user\":\"\xff\xfe\"}\n");
    text.extend_from_slice(long.as_bytes());
    text.extend_from_slice(b"\n{\"user\":\"\xc3\xa9\"}\n{\"user\":\"u3\"}");
    std::fs::write(&input, text).unwrap();
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "json"),
        ("topic", "events"),
        ("max_record_bytes", "2000"),
    ];
    let m = ingest(&broker, "events", &props);
    assert_eq!((m.records_in, m.records_out, m.dlq), (5, 3, 2));
    let values: Vec<_> = read_topic(&broker, "events").into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values.len(), 3);
    assert!(values.contains(&json!({"user": "é"})) && values.contains(&json!({"user": "u3"})));
    let dlq = read_topic(&broker, "events.dlq");
    let errors: Vec<String> = dlq.iter().map(|r| r.value.as_ref().unwrap()["error"].to_string()).collect();
    assert!(errors.iter().any(|e| e.contains("not valid UTF-8")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("exceeds max_record_bytes=2000")), "{errors:?}");
    let lines: Vec<i64> = dlq.iter().map(|r| r.value.as_ref().unwrap()["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![2, 3], "dead letters name their input lines");
}

#[test]
fn csv_records_become_json_rows() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("products.csv");
    std::fs::write(
        &input,
        "id,name,price,note\r\n1,Widget,9.99,\"say \"\"hi\"\"\"\r\n2,\"Gadget, large\",12,\"two\nlines\"\n3,Bad,1\n4,Empty,,\"007\"\n",
    )
    .unwrap();
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "csv"),
        ("topic", "products"),
        ("key", "id"),
    ];
    let m = ingest(&broker, "products", &props);
    assert_eq!((m.records_in, m.records_out, m.skipped, m.dlq), (5, 3, 1, 1));
    let values: Vec<_> =
        read_topic(&broker, "products").into_iter().map(|r| (r.key.unwrap(), r.value.unwrap())).collect();
    assert_eq!(
        values,
        vec![
            (r#"{"id":1}"#.to_string(), json!({"id":1,"name":"Widget","price":9.99,"note":"say \"hi\""})),
            (
                r#"{"id":2}"#.to_string(),
                json!({"id":2,"name":"Gadget, large","price":12,"note":"two\nlines"})
            ),
            (r#"{"id":4}"#.to_string(), json!({"id":4,"name":"Empty","price":null,"note":"007"})),
        ]
    );
    let dlq = read_topic(&broker, "products.dlq");
    let letter = dlq[0].value.as_ref().unwrap();
    assert_eq!(
        (letter["line"].as_u64(), letter["raw"].as_str()),
        (Some(5), Some("3,Bad,1")),
        "line numbers count physical lines"
    );
    assert!(letter["error"].as_str().unwrap().contains("has 3 fields but the header has 4 columns"));

    // Without a header line, columns are configured.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "a;1\nb;2\n").unwrap();
    let props = [
        ("connector", "file"),
        ("path", bare.to_str().unwrap()),
        ("format", "csv"),
        ("topic", "bare"),
        ("header", "false"),
        ("columns", "name,n"),
        ("delimiter", ";"),
        ("infer_types", "false"),
    ];
    ingest(&broker, "bare", &props);
    let rows: Vec<_> = read_topic(&broker, "bare").into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(rows, vec![json!({"name":"a","n":"1"}), json!({"name":"b","n":"2"})]);
}

#[test]
fn a_directory_source_picks_up_new_files_and_follows_growing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_lines(&input.join("b.jsonl"), &[r#"{"n":"b1"}"#]);
    write_lines(&input.join("a.jsonl"), &[r#"{"n":"a1"}"#, r#"{"n":"a2"}"#]);
    write_lines(&input.join(".hidden.jsonl"), &[r#"{"n":"hidden"}"#]);
    write_lines(&input.join("notes.txt"), &["not matched"]);
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "json"),
        ("topic", "dir"),
        ("pattern", "*.jsonl"),
        ("poll_interval_ms", "10"),
    ];
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(StopSignal::new());
    let (m, s, b) = (metrics.clone(), stop.clone(), broker.clone());
    let config = source_config("dir", &props);
    let thread = std::thread::spawn(move || {
        FileSource::new("dir", config, Arc::new(EmbeddedCluster::new(b)), m).run(&s)
    });
    let wait = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while metrics.snapshot().records_out < n {
            assert!(Instant::now() < deadline, "timed out waiting for {n} records");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait(3);
    write_lines(&input.join("c.jsonl"), &[r#"{"n":"c1"}"#]);
    let mut a = std::fs::OpenOptions::new().append(true).open(input.join("a.jsonl")).unwrap();
    writeln!(a, r#"{{"n":"a3"}}"#).unwrap();
    wait(5);
    stop.stop();
    thread.join().unwrap().unwrap();
    let values: Vec<String> = read_topic(&broker, "dir")
        .into_iter()
        .map(|r| r.value.unwrap()["n"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&values[..3], ["a1", "a2", "b1"], "files are read in name order");
    let mut later = values[3..].to_vec();
    later.sort();
    assert_eq!(later, ["a3", "c1"]);
    let m = metrics.snapshot();
    assert_eq!((m.files_seen, m.files_done), (3, 3));
}

#[test]
fn files_can_be_ordered_by_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_lines(&input.join("a.jsonl"), &[r#"{"n":"newer"}"#]);
    write_lines(&input.join("b.jsonl"), &[r#"{"n":"older"}"#]);
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(input.join("b.jsonl")).unwrap().set_modified(old).unwrap();
    let props = [
        ("connector", "file"),
        ("path", input.to_str().unwrap()),
        ("format", "json"),
        ("topic", "t"),
        ("order", "mtime"),
    ];
    ingest(&broker, "mtime", &props);
    let values: Vec<String> = read_topic(&broker, "t")
        .into_iter()
        .map(|r| r.value.unwrap()["n"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["older", "newer"]);
}
