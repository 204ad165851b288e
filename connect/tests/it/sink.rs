//! File sinks: JSON lines and Parquet, rolled by size and time, resumed without duplicates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use brook_broker::{Broker, NewRecord, TopicConfig};
use brook_client::EmbeddedCluster;
use brook_connect::config::SinkConfig;
use brook_connect::metrics::Metrics;
use brook_connect::{ConnectorConfig, ConnectorDefinition, ConnectorKind, FileSink, RunEnd, StopSignal};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

use crate::open_broker;

fn sink_config(props: &[(&str, &str)]) -> SinkConfig {
    let def = ConnectorDefinition::new("sink", ConnectorKind::Sink, props.iter().copied()).unwrap();
    match def.config().unwrap() {
        ConnectorConfig::Sink(s) => s,
        ConnectorConfig::Source(_) => unreachable!("a sink definition"),
    }
}

fn run_sink(broker: &Broker, name: &str, props: &[(&str, &str)]) -> brook_connect::MetricsSnapshot {
    let mut props = props.to_vec();
    props.push(("mode", "once"));
    let metrics = Arc::new(Metrics::default());
    let mut sink = FileSink::new(
        name,
        sink_config(&props),
        Arc::new(EmbeddedCluster::new(broker.clone())),
        metrics.clone(),
    );
    assert_eq!(sink.run(&StopSignal::new()).unwrap(), RunEnd::Finished);
    metrics.snapshot()
}

fn produce(broker: &Broker, topic: &str, from: u64, to: u64) {
    let records = (from..to)
        .map(|i| {
            let value =
                json!({"id": i, "name": format!("n{i}"), "score": i as f64 / 2.0, "tags": ["a"]}).to_string();
            NewRecord::new(Some(format!("k{}", i % 17)), Some(value))
        })
        .collect();
    broker.produce(topic, None, records).unwrap();
}

/// Completed files in `dir`, by name.
fn outputs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn jsonl_ids(dir: &Path) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for name in outputs(dir) {
        for line in std::fs::read_to_string(dir.join(&name)).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            *seen.entry(v["id"].as_u64().unwrap()).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn json_lines_sink_rolls_by_size_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("orders", 3, TopicConfig::default()).unwrap();
    produce(&broker, "orders", 0, 1000);
    let out = dir.path().join("out");
    let props =
        [("connector", "file"), ("path", out.to_str().unwrap()), ("topic", "orders"), ("roll_bytes", "4000")];
    let m = run_sink(&broker, "orders-sink", &props);
    assert_eq!((m.records_in, m.records_out), (1000, 1000));
    let files = outputs(&out);
    assert!(files.len() > 3, "rolled by size: {files:?}");
    assert!(files.iter().all(|f| f.starts_with("orders-") && f.ends_with(".jsonl")), "{files:?}");
    assert_eq!(m.files_done, files.len() as u64);
    let ids = jsonl_ids(&out);
    assert_eq!(ids.len(), 1000);
    assert!(ids.values().all(|&n| n == 1));

    // Running again writes nothing new; new records go to new files only.
    run_sink(&broker, "orders-sink", &props);
    assert_eq!(outputs(&out), files);
    produce(&broker, "orders", 1000, 1100);
    // A crash left an unfinished file behind; it is discarded and its records written again.
    std::fs::write(out.join(".orders-0-00000000000000099999.jsonl.tmp"), "{\"id\":0}\n").unwrap();
    let m = run_sink(&broker, "orders-sink", &props);
    assert_eq!(m.records_out, 1100, "counters survive restarts");
    let ids = jsonl_ids(&out);
    assert_eq!(ids.len(), 1100);
    assert!(ids.values().all(|&n| n == 1), "every record is in exactly one file");
    assert!(!outputs(&out).iter().any(|f| f.ends_with(".tmp")));
}

#[test]
fn the_file_names_are_the_commit() {
    // Even with the consumer-group position and the checkpoint gone, completed files say
    // which records were written.
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    produce(&broker, "t", 0, 200);
    let out = dir.path().join("out");
    let props =
        [("connector", "file"), ("path", out.to_str().unwrap()), ("topic", "t"), ("roll_bytes", "2000")];
    run_sink(&broker, "first-name", &props);
    produce(&broker, "t", 200, 300);
    run_sink(&broker, "second-name", &props);
    let ids = jsonl_ids(&out);
    assert_eq!((ids.len(), ids.values().max()), (300, Some(&1)));
}

#[test]
fn envelope_lines_carry_record_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    broker
        .produce(
            "t",
            None,
            vec![
                NewRecord::new(Some("k"), Some("plain text")),
                NewRecord::new(Some(r#"{"id":1}"#), None::<Vec<u8>>),
            ],
        )
        .unwrap();
    let out = dir.path().join("out");
    run_sink(
        &broker,
        "env",
        &[("connector", "file"), ("path", out.to_str().unwrap()), ("topic", "t"), ("envelope", "true")],
    );
    let text = std::fs::read_to_string(out.join(&outputs(&out)[0])).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        (lines[0]["key"].clone(), lines[0]["value"].clone(), lines[0]["offset"].clone()),
        (json!("k"), json!("plain text"), json!(0))
    );
    assert_eq!((lines[1]["key"].clone(), lines[1]["value"].clone()), (json!({"id": 1}), Value::Null));
}

#[test]
fn parquet_sink_writes_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("orders", 2, TopicConfig::default()).unwrap();
    produce(&broker, "orders", 0, 500);
    let out = dir.path().join("out");
    let m = run_sink(
        &broker,
        "pq",
        &[("connector", "parquet"), ("path", out.to_str().unwrap()), ("topic", "orders")],
    );
    assert_eq!(m.records_out, 500);
    let mut ids = Vec::new();
    for name in outputs(&out) {
        assert!(name.ends_with(".parquet"), "{name}");
        let file = std::fs::File::open(out.join(&name)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(
                names,
                ["_partition", "_offset", "_timestamp", "_key", "_tombstone", "id", "name", "score", "tags"]
            );
            let id = batch.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            let partition = batch.column_by_name("_partition").unwrap().as_primitive::<Int32Type>();
            assert!(partition.values().iter().all(|p| name.starts_with(&format!("orders-{p}-"))));
            ids.extend(id.values().iter().copied());
        }
    }
    ids.sort();
    assert_eq!(ids, (0..500).collect::<Vec<i64>>());
}

#[test]
fn parquet_keeps_values_that_are_not_objects_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("mixed", 1, TopicConfig::default()).unwrap();
    broker
        .produce(
            "mixed",
            None,
            vec![
                NewRecord::new(Some("a"), Some(r#"{"x":1}"#)),
                NewRecord::new(Some("b"), Some("not json")),
                NewRecord::new(Some("c"), None::<Vec<u8>>),
            ],
        )
        .unwrap();
    let out = dir.path().join("out");
    run_sink(
        &broker,
        "mixed",
        &[("connector", "parquet"), ("path", out.to_str().unwrap()), ("topic", "mixed")],
    );
    let file = std::fs::File::open(out.join(&outputs(&out)[0])).unwrap();
    let batch =
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    let value = batch.column_by_name("_value").unwrap().as_string::<i32>();
    assert_eq!((value.value(0), value.value(1), value.is_null(2)), (r#"{"x":1}"#, "not json", true));
    let tombstone = batch.column_by_name("_tombstone").unwrap().as_boolean();
    assert_eq!((tombstone.value(1), tombstone.value(2)), (false, true));
}

#[test]
fn files_roll_by_time_while_following() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_broker(&dir.path().join("data"));
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    produce(&broker, "t", 0, 10);
    let out = dir.path().join("out");
    let config = sink_config(&[
        ("connector", "file"),
        ("path", out.to_str().unwrap()),
        ("topic", "t"),
        ("roll_interval_ms", "100"),
        ("poll_interval_ms", "10"),
    ]);
    let stop = Arc::new(StopSignal::new());
    let (s, b) = (stop.clone(), broker.clone());
    let thread = std::thread::spawn(move || {
        FileSink::new("timed", config, Arc::new(EmbeddedCluster::new(b)), Arc::new(Metrics::default()))
            .run(&s)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !outputs(&out).iter().any(|f| f.ends_with(".jsonl")) {
        assert!(Instant::now() < deadline, "no file was rolled by time");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.stop();
    thread.join().unwrap().unwrap();
    assert_eq!(jsonl_ids(&out).len(), 10);
}
