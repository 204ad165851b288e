//! Changelogs: state stores rebuilt from their compacted changelog topics when a task opens
//! without its local state — a wiped state directory, memory state after a restart, or a task
//! that moved to another instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_streams::dsl::StreamsBuilder;
use brook_streams::state::StateConfig;
use brook_streams::state::changelog::OffsetCheckpoint;
use brook_streams::{Connection, KafkaStreams, StreamsConfig};

/// Counts words of `lines` into `counts` through a repartition, so the counting store lives in
/// the second sub-topology.
fn wordcount() -> brook_streams::Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("lines")
        .flat_map_values(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .group_by(|_, w| w.clone())
        .count()
        .to_stream()
        .to("counts");
    b.build().unwrap()
}

fn latest_counts(broker: &Broker) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let t = broker.topic("counts").unwrap();
    for p in 0..t.partition_count() {
        for r in broker.read("counts", p, 0, 64 << 20).unwrap() {
            let k = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            let v = i64::from_be_bytes(r.value.unwrap().as_ref().try_into().unwrap());
            out.insert(k, v);
        }
    }
    out
}

fn produce_lines(broker: &Broker, from: usize, n: usize) {
    let records = (from..from + n).map(|i| NewRecord::new(Some(format!("line{i}")), Some("a b a"))).collect();
    broker.produce("lines", None, records).unwrap();
}

fn counts(lines: i64) -> BTreeMap<String, i64> {
    BTreeMap::from([("a".to_string(), 2 * lines), ("b".to_string(), lines)])
}

fn run_until_idle(topology: brook_streams::Topology, config: StreamsConfig) {
    let app = KafkaStreams::start(topology, config).unwrap();
    assert!(app.wait_until_idle(Duration::from_millis(300), Duration::from_secs(60)), "{:?}", app.failure());
    app.close().unwrap();
}

fn checkpoints(state: &Path) -> Vec<OffsetCheckpoint> {
    let mut out = Vec::new();
    for app in std::fs::read_dir(state).unwrap() {
        for task in std::fs::read_dir(app.unwrap().path()).unwrap() {
            out.push(OffsetCheckpoint::read(&task.unwrap().path()));
        }
    }
    out
}

#[test]
fn a_wiped_state_directory_is_restored_from_the_changelog() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 3, TopicConfig::default()).unwrap();
    let state = dir.path().join("state");
    let config = || {
        let mut c = StreamsConfig::new("wc", Connection::Embedded(broker.clone()), &state);
        c.num_threads = 2;
        c.commit_interval = Duration::from_millis(50);
        c
    };
    produce_lines(&broker, 0, 100);
    run_until_idle(wordcount(), config());
    assert_eq!(latest_counts(&broker), counts(100));

    // Every store has a compacted changelog with a partition per task, and each task's
    // checkpoint file records how far its local stores hold it.
    let changelogs: Vec<String> = broker
        .topic_names()
        .into_iter()
        .filter(|t| t.starts_with("wc-") && t.ends_with("-changelog"))
        .collect();
    assert_eq!(changelogs.len(), 1, "{changelogs:?}");
    let topic = broker.topic(&changelogs[0]).unwrap();
    assert_eq!(topic.partition_count(), 3);
    assert_eq!(topic.config().get("cleanup.policy").unwrap().0, "compact");
    let held: Vec<i64> = checkpoints(&state).iter().flat_map(|c| c.offsets.values().copied()).collect();
    assert!(!held.is_empty() && held.iter().all(|&o| o >= 0), "{held:?}");

    // The local state is lost; the restarted application rebuilds it from the changelog and
    // keeps counting from where it was (without it, the counts would start again at zero).
    std::fs::remove_dir_all(&state).unwrap();
    produce_lines(&broker, 100, 50);
    run_until_idle(wordcount(), config());
    assert_eq!(latest_counts(&broker), counts(150));

    // With the state intact only the tail is restored, and the counts stay exact.
    produce_lines(&broker, 150, 10);
    run_until_idle(wordcount(), config());
    assert_eq!(latest_counts(&broker), counts(160));
}

#[test]
fn memory_state_is_restored_from_the_changelog_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 2, TopicConfig::default()).unwrap();
    let config = || {
        let mut c = StreamsConfig::new("mem", Connection::Embedded(broker.clone()), dir.path().join("state"));
        c.state = StateConfig::Memory;
        c.commit_interval = Duration::from_millis(50);
        c
    };
    produce_lines(&broker, 0, 40);
    run_until_idle(wordcount(), config());
    produce_lines(&broker, 40, 2);
    run_until_idle(wordcount(), config());
    assert_eq!(latest_counts(&broker), counts(42));
}

/// Over the Kafka protocol: an instance processes, stops; another instance with an empty
/// state directory takes over its tasks through the consumer group and restores their stores
/// from the changelogs through its restore consumer.
#[test]
fn a_task_moved_to_another_instance_restores_its_state_there() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 4, TopicConfig::default()).unwrap();
    let server = brook_broker::server::LoopbackServer::start(broker.clone()).unwrap();
    let config = |instance: &str| {
        let mut c = StreamsConfig::new(
            "moving",
            Connection::Kafka { bootstrap: server.bootstrap(), properties: vec![] },
            dir.path().join(format!("state-{instance}")),
        );
        c.commit_interval = Duration::from_millis(100);
        c
    };
    let wait_for = |app: &KafkaStreams, want: &BTreeMap<String, i64>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while latest_counts(&broker) != *want
            && app.failure().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    produce_lines(&broker, 0, 200);
    let mut first = KafkaStreams::start(wordcount(), config("a")).unwrap();
    wait_for(&first, &counts(200));
    first.stop().unwrap();
    assert_eq!(latest_counts(&broker), counts(200));

    produce_lines(&broker, 200, 100);
    let mut second = KafkaStreams::start(wordcount(), config("b")).unwrap();
    wait_for(&second, &counts(300));
    let failure = second.failure();
    second.stop().unwrap();
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(latest_counts(&broker), counts(300));
    assert!(!checkpoints(&dir.path().join("state-b")).is_empty());
    server.shutdown().unwrap();
}
