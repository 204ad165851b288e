//! The connector manager: create, show, describe and drop connectors, and connectors that
//! survive a server restart.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_client::EmbeddedCluster;
use brook_connect::{ConnectorDefinition, ConnectorKind, ConnectorManager, ConnectorState, Error};

use crate::{open_broker, read_topic, write_lines};

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn connectors_are_managed_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("in");
    let out = dir.path().join("out");
    std::fs::create_dir(&input).unwrap();
    write_lines(&input.join("1.json"), &[r#"{"id":1,"v":"a"}"#, r#"{"id":2,"v":"b"}"#, "oops"]);
    let source = ConnectorDefinition::new(
        "events",
        ConnectorKind::Source,
        [
            ("connector", "file"),
            ("path", input.to_str().unwrap()),
            ("format", "json"),
            ("topic", "events"),
            ("key", "id"),
            ("poll_interval_ms", "10"),
            ("commit_interval_ms", "20"),
        ],
    )
    .unwrap();
    let sink = ConnectorDefinition::new(
        "events-archive",
        ConnectorKind::Sink,
        [
            ("connector", "file"),
            ("path", out.to_str().unwrap()),
            ("topic", "events"),
            ("roll_interval_ms", "50"),
            ("poll_interval_ms", "10"),
        ],
    )
    .unwrap();
    {
        let broker = open_broker(&data);
        let manager = ConnectorManager::open(Arc::new(EmbeddedCluster::new(broker.clone()))).unwrap();
        manager.create(source.clone()).unwrap();
        assert!(matches!(manager.create(source.clone()), Err(Error::ConnectorExists(_))));
        manager.create(sink).unwrap();
        wait_for("ingestion", || manager.describe("events").unwrap().metrics.records_out == 2);
        let status = manager.describe("events").unwrap();
        assert_eq!(
            (status.kind, status.state.clone(), status.metrics.dlq),
            (ConnectorKind::Source, ConnectorState::Running, 1)
        );
        assert_eq!((status.topic.as_str(), status.format.as_deref()), ("events", Some("json")));
        let names: Vec<String> = manager.list().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["events", "events-archive"]);
        wait_for("the archive", || manager.describe("events-archive").unwrap().metrics.records_out == 2);
        manager.drop_connector("events-archive").unwrap();
        assert!(matches!(manager.describe("events-archive"), Err(Error::UnknownConnector(_))));
        assert!(matches!(manager.drop_connector("nope"), Err(Error::UnknownConnector(_))));
        manager.shutdown();
        broker.close().unwrap();
    }
    // New input while the server is down.
    let mut f = std::fs::OpenOptions::new().append(true).open(input.join("1.json")).unwrap();
    writeln!(f, r#"{{"id":3,"v":"c"}}"#).unwrap();
    {
        let broker = open_broker(&data);
        let manager = ConnectorManager::open(Arc::new(EmbeddedCluster::new(broker.clone()))).unwrap();
        let names: Vec<String> = manager.list().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["events"], "the stored source restarted; the dropped sink did not");
        wait_for("the new line", || manager.describe("events").unwrap().metrics.records_out == 3);
        let status = manager.describe("events").unwrap();
        assert_eq!(
            (status.metrics.records_in, status.metrics.dlq),
            (4, 1),
            "counters continue across the restart"
        );
        let ids: Vec<i64> = read_topic(&broker, "events")
            .iter()
            .map(|r| r.value.as_ref().unwrap()["id"].as_i64().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, [1, 2, 3], "nothing read twice");
        manager.drop_connector("events").unwrap();
        manager.shutdown();
        broker.close().unwrap();
    }
    let broker = open_broker(&data);
    let manager = ConnectorManager::open(Arc::new(EmbeddedCluster::new(broker.clone()))).unwrap();
    assert!(manager.list().is_empty());
    assert!(
        brook_connect::checkpoint::OffsetStore::load(&EmbeddedCluster::new(broker.clone()), "events")
            .unwrap()
            .is_none(),
        "a drop forgets the position"
    );
}

#[test]
fn invalid_definitions_are_rejected_with_a_reason() {
    let err = ConnectorDefinition::new(
        "x",
        ConnectorKind::Sink,
        [("connector", "s3"), ("path", "/o"), ("topic", "t")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("sink connector type 's3' is not supported"), "{err}");
    let err = ConnectorDefinition::new(
        "x",
        ConnectorKind::Source,
        [("connector", "file"), ("path", "/i"), ("format", "json"), ("topic", "bad topic")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a valid topic name"), "{err}");
}
