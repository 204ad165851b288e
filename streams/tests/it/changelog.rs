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

use super::{latest_counts, wordcount};

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

/// The latest count per word in `counts`, read as a `read_committed` Kafka consumer reads it
/// (aborted transactions' records left out), and every committed update per word in order.
fn committed_counts(bootstrap: &str) -> (BTreeMap<String, i64>, BTreeMap<String, Vec<i64>>) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "verifier")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let partitions = consumer.fetch_metadata(Some("counts"), Duration::from_secs(10)).unwrap().topics()[0]
        .partitions()
        .len() as i32;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset("counts", p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let (mut out, mut updates) = (BTreeMap::new(), BTreeMap::<String, Vec<i64>>::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let at_end = (0..partitions).all(|p| {
            let (_, high) = consumer.fetch_watermarks("counts", p, Duration::from_secs(5)).unwrap();
            let position = consumer.position().unwrap();
            matches!(position.find_partition("counts", p).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= high)
                || high == 0
        });
        if at_end || std::time::Instant::now() > deadline {
            return (out, updates);
        }
        while let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let k = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let v = i64::from_be_bytes(m.payload().unwrap().try_into().unwrap());
            updates.entry(k.clone()).or_default().push(v);
            out.insert(k, v);
        }
    }
}

/// Exactly-once over the Kafka protocol: the counting task fails in the middle of a commit
/// interval, after it wrote outputs and changelog records of its open transaction. The
/// restarted application (its stores rebuilt from the committed changelog, the input read again
/// from the committed offsets) ends with counts that a `read_committed` reader sees exactly —
/// the aborted transaction's updates are invisible. Under at-least-once the same failure
/// double-counts.
#[test]
fn exactly_once_a_failure_mid_transaction_leaves_committed_results_exact() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FAILED_ONCE: AtomicBool = AtomicBool::new(false);
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 2, TopicConfig::default()).unwrap();
    let server = brook_broker::server::LoopbackServer::start(broker.clone()).unwrap();
    let topology = || {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("lines")
            .flat_map_values(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .group_by(|_, w| w.clone())
            .count()
            .to_stream()
            .peek(|w, _| {
                if w == "boom" && !FAILED_ONCE.swap(true, Ordering::SeqCst) {
                    panic!("injected failure");
                }
            })
            .to("counts");
        b.build().unwrap()
    };
    let config = || {
        let mut c = StreamsConfig::new(
            "eos",
            Connection::Kafka { bootstrap: server.bootstrap(), properties: vec![] },
            dir.path().join("state"),
        );
        c.processing_guarantee = brook_streams::ProcessingGuarantee::ExactlyOnceV2;
        c.commit_interval = Duration::from_millis(100);
        c
    };
    produce_lines(&broker, 0, 100);
    let mut app = KafkaStreams::start(topology(), config()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while committed_counts(&server.bootstrap()).0 != counts(100) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A burst in one batch: the counting task updates a and b, then meets "boom" and fails
    // before the transaction commits.
    let mut burst: Vec<NewRecord> =
        (0..50).map(|i| NewRecord::new(Some(format!("x{i}")), Some("a b a"))).collect();
    burst.push(NewRecord::new(Some("x-boom".to_string()), Some("boom")));
    broker.produce("lines", Some(0), burst).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while app.failure().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(app.failure().unwrap_or_default().contains("injected failure"), "{:?}", app.failure());
    let _ = app.stop();

    let mut app = KafkaStreams::start(topology(), config()).unwrap();
    let mut want = counts(150);
    want.insert("boom".to_string(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while committed_counts(&server.bootstrap()).0 != want
        && app.failure().is_none()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let failure = app.failure();
    app.stop().unwrap();
    assert!(failure.is_none(), "{failure:?}");
    let (committed, updates) = committed_counts(&server.bootstrap());
    assert_eq!(committed, want);
    // The committed updates of each word only grow: the restarted task did not start counting
    // again from an empty or stale store.
    for (word, values) in &updates {
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{word}: {values:?}");
    }
    server.shutdown().unwrap();
}
