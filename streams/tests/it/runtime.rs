//! The runtime against a real embedded broker, with RocksDB state.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_streams::dsl::StreamsBuilder;
use brook_streams::runtime::production::{FailedOutput, ProductionExceptionHandler, ProductionResponse};
use brook_streams::{Connection, KafkaStreams, StreamsConfig};

use super::{latest_counts, wordcount};

#[test]
fn embedded_wordcount_survives_restart_without_double_counting() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 3, TopicConfig::default()).unwrap();
    let produce = |n: usize| {
        let records = (0..n).map(|i| NewRecord::new(Some(format!("line{i}")), Some("a b a"))).collect();
        broker.produce("lines", None, records).unwrap();
    };
    let config = || {
        let mut c = StreamsConfig::new("wc", Connection::Embedded(broker.clone()), dir.path().join("state"));
        c.num_threads = 2;
        c.commit_interval = Duration::from_millis(50);
        c
    };
    produce(100);
    let app = KafkaStreams::start(wordcount(), config()).unwrap();
    assert!(app.wait_until_idle(Duration::from_millis(300), Duration::from_secs(30)), "{:?}", app.failure());
    app.close().unwrap();
    assert_eq!(latest_counts(&broker), BTreeMap::from([("a".to_string(), 200), ("b".to_string(), 100)]));
    // More input while stopped; the restarted application continues from its commits and its
    // RocksDB state.
    produce(50);
    let app = KafkaStreams::start(wordcount(), config()).unwrap();
    assert!(app.wait_until_idle(Duration::from_millis(300), Duration::from_secs(30)), "{:?}", app.failure());
    let m = app.metrics();
    app.close().unwrap();
    assert_eq!(latest_counts(&broker), BTreeMap::from([("a".to_string(), 300), ("b".to_string(), 150)]));
    assert!(m.records_in >= 50, "{m:?}");
}

#[test]
fn missing_source_topic_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
    let config = StreamsConfig::new("x", Connection::Embedded(broker), dir.path().join("state"));
    let err = KafkaStreams::start(wordcount(), config).err().unwrap();
    assert!(err.to_string().contains("source topic 'lines' does not exist"), "{err}");
}

/// Two instances of one application over the Kafka protocol share the input partitions
/// through their consumer group, as Kafka Streams instances do; every record is processed.
#[test]
fn two_instances_share_partitions_through_a_consumer_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("in", 4, TopicConfig::default()).unwrap();
    broker.create_topic("out", 4, TopicConfig::default()).unwrap();
    let server = brook_broker::server::LoopbackServer::start(broker.clone()).unwrap();
    let bootstrap = server.bootstrap();
    let topology = || {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("in").map_values(|v| format!("seen-{v}")).to("out");
        b.build().unwrap()
    };
    let start = |n: usize| {
        let mut c = StreamsConfig::new(
            "scale-out",
            Connection::Kafka { bootstrap: bootstrap.clone(), properties: vec![] },
            dir.path().join(format!("state-{n}")),
        );
        c.commit_interval = Duration::from_millis(200);
        KafkaStreams::start(topology(), c).unwrap()
    };
    let mut a = start(1);
    let mut b = start(2);
    // Idle means "has partitions and has read them to the end": both members have joined.
    let joined = a.wait_until_idle(Duration::from_millis(500), Duration::from_secs(60))
        && b.wait_until_idle(Duration::from_millis(500), Duration::from_secs(60));
    assert!(joined, "{:?} {:?}", a.failure(), b.failure());
    let records: Vec<_> =
        (0..2000).map(|i| NewRecord::new(Some(format!("k{i}")), Some(format!("{i}")))).collect();
    broker.produce("in", None, records).unwrap();
    let settled = a.wait_until_idle(Duration::from_secs(1), Duration::from_secs(90))
        && b.wait_until_idle(Duration::from_secs(1), Duration::from_secs(90));
    a.stop().unwrap();
    b.stop().unwrap();
    assert!(settled);
    let (ma, mb) = (a.metrics(), b.metrics());
    assert!(ma.records_in > 0 && mb.records_in > 0, "both instances got partitions: {ma:?} {mb:?}");
    let mut values = std::collections::BTreeSet::new();
    for p in 0..4 {
        for r in broker.read("out", p, 0, 64 << 20).unwrap() {
            values.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(values.len(), 2000, "every input record was processed");
    server.shutdown().unwrap();
}

/// Two stream threads of one instance over the Kafka protocol, with RocksDB state: when the
/// second thread joins the group, tasks the first one had opened move to it, and the first may
/// still hold their stores' locks (the new owner then waits for the lock; the SQL pipelines
/// bench hit "lock hold by current process" there before). The counts come out exact.
#[test]
fn tasks_moving_between_threads_of_one_instance_wait_for_their_state_store() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("lines", 4, TopicConfig::default()).unwrap();
    let server = brook_broker::server::LoopbackServer::start(broker.clone()).unwrap();
    let mut c = StreamsConfig::new(
        "two-threads",
        Connection::Kafka { bootstrap: server.bootstrap(), properties: vec![] },
        dir.path().join("state"),
    );
    c.num_threads = 2;
    c.commit_interval = Duration::from_millis(100);
    let mut app = KafkaStreams::start(wordcount(), c).unwrap();
    assert!(app.wait_until_idle(Duration::from_millis(500), Duration::from_secs(60)), "{:?}", app.failure());
    let records: Vec<_> = (0..400).map(|i| NewRecord::new(Some(format!("line{i}")), Some("a b a"))).collect();
    broker.produce("lines", None, records).unwrap();
    let want = BTreeMap::from([("a".to_string(), 800), ("b".to_string(), 400)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while latest_counts(&broker) != want && app.failure().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let failure = app.failure();
    app.stop().unwrap();
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(latest_counts(&broker), want);
    server.shutdown().unwrap();
}

/// A committed position past the end of its partition — the topic was deleted and created
/// again — starts where `auto.offset.reset` says, as a Kafka consumer does: with the default
/// (earliest) the new topic's records are counted. It used to jump to the end and skip them.
#[test]
fn a_position_past_the_end_of_a_recreated_topic_starts_at_auto_offset_reset() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    let lines =
        |n: usize| (0..n).map(|i| NewRecord::new(Some(format!("l{i}")), Some("a"))).collect::<Vec<_>>();
    let run = || {
        let config =
            StreamsConfig::new("recreated", Connection::Embedded(broker.clone()), dir.path().join("state"));
        let app = KafkaStreams::start(wordcount(), config).unwrap();
        assert!(
            app.wait_until_idle(Duration::from_millis(300), Duration::from_secs(60)),
            "{:?}",
            app.failure()
        );
        app.close().unwrap();
    };
    broker.create_topic("lines", 1, TopicConfig::default()).unwrap();
    broker.produce("lines", None, lines(10)).unwrap();
    run();
    assert_eq!(latest_counts(&broker)["a"], 10);
    // The input topic is replaced: 3 new lines, below the committed position 10.
    broker.delete_topic("lines").unwrap();
    broker.create_topic("lines", 1, TopicConfig::default()).unwrap();
    broker.produce("lines", None, lines(3)).unwrap();
    run();
    assert_eq!(latest_counts(&broker)["a"], 13, "the re-created topic's records were counted");
}

/// A processor that panics stops its stream thread, and the panic becomes the application's
/// failure (what `SHOW QUERIES` shows as ERROR), instead of a dead thread that looks running.
#[test]
fn a_panicking_processor_becomes_the_applications_failure() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path().join("broker"))).unwrap();
    broker.create_topic("in", 1, TopicConfig::default()).unwrap();
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in")
        .map_values(|v: String| if v == "boom" { panic!("cannot handle {v}") } else { v })
        .to("out");
    let config = StreamsConfig::new("panics", Connection::Embedded(broker.clone()), dir.path().join("state"));
    let app = KafkaStreams::start(b.build().unwrap(), config).unwrap();
    broker.produce("in", None, vec![NewRecord::new(Some("k"), Some("boom"))]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.failure().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let failure = app.failure().expect("the panic became the application's failure");
    assert!(failure.contains("panicked") && failure.contains("cannot handle boom"), "{failure}");
    assert!(app.close().is_err(), "closing reports the failure");
}

/// Output topic `out` limited to 1000-byte batches (and a dead-letter topic `out.dlq`), input
/// `in` with a small record, one that grows past the limit in `map_values`, and another small
/// one; the application runs with `handler` (the default one if `None`), on the embedded
/// broker or, with `kafka`, over the Kafka protocol (librdkafka, whose `message.max.bytes` is
/// set to the topic's limit unless `broker_limit_only`).
fn oversized_output_app(
    dir: &std::path::Path,
    handler: Option<std::sync::Arc<dyn ProductionExceptionHandler>>,
    kafka: bool,
    broker_limit_only: bool,
) -> (Broker, KafkaStreams, Option<brook_broker::server::LoopbackServer>) {
    let broker = Broker::open(BrokerConfig::new(dir.join("broker"))).unwrap();
    broker.create_topic("in", 1, TopicConfig::default()).unwrap();
    let limited = TopicConfig::from_pairs([("max.message.bytes", "1000")]).unwrap();
    broker.create_topic("out", 1, limited).unwrap();
    broker.create_topic("out.dlq", 1, TopicConfig::default()).unwrap();
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in").map_values(|v: String| v.repeat(20)).to("out");
    let server = kafka.then(|| brook_broker::server::LoopbackServer::start(broker.clone()).unwrap());
    let connection = match &server {
        // The client refuses what the topic would (see `runtime::production`).
        Some(s) => Connection::Kafka {
            bootstrap: s.bootstrap(),
            properties: match broker_limit_only {
                true => vec![],
                false => vec![("message.max.bytes".into(), "1000".into())],
            },
        },
        None => Connection::Embedded(broker.clone()),
    };
    let mut config = StreamsConfig::new("grows", connection, dir.join("state"));
    if let Some(handler) = handler {
        config.production_exception_handler = handler;
    }
    let app = KafkaStreams::start(b.build().unwrap(), config).unwrap();
    let records = [("a", "x".to_string()), ("b", "y".repeat(200)), ("c", "z".to_string())]
        .into_iter()
        .map(|(k, v)| NewRecord::new(Some(k), Some(v)))
        .collect();
    broker.produce("in", None, records).unwrap();
    (broker, app, server)
}

fn keys_of(broker: &Broker, topic: &str) -> Vec<String> {
    broker
        .read(topic, 0, 0, 1 << 20)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.key.unwrap_or_default()).to_string())
        .collect()
}

/// Regression (issue 18): one output record larger than its topic's `max.message.bytes`.
/// By default (Kafka Streams' `DefaultProductionExceptionHandler`) the application fails with
/// the broker's refusal as its failure; the refused record is not in the topic, and the input
/// position is not committed past it.
#[test]
fn an_oversized_output_record_fails_the_application_by_default() {
    for kafka in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (broker, app, _server) = oversized_output_app(dir.path(), None, kafka, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while app.failure().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let failure = app.failure().expect("the refused record became the application's failure");
        assert!(failure.contains("cannot write a record to out"), "kafka: {kafka}: {failure}");
        assert!(app.close().is_err(), "closing reports the failure");
        assert!(!keys_of(&broker, "out").contains(&"b".to_string()), "kafka: {kafka}");
        assert!(keys_of(&broker, "out").contains(&"a".to_string()), "kafka: {kafka}");
        let committed = broker.committed_offset("grows", "in", 0).map_or(0, |c| c.offset);
        assert!(
            committed <= 1,
            "kafka: {kafka}: the position was committed past the refused record: {committed}"
        );
    }
}

/// A handler that skips refused records and writes a dead-letter record for each.
#[derive(Debug)]
struct DeadLetter;

impl ProductionExceptionHandler for DeadLetter {
    fn handle(&self, failed: &FailedOutput<'_>) -> ProductionResponse {
        ProductionResponse::Continue(vec![brook_streams::OutputRecord {
            topic: "out.dlq".into(),
            partition: None,
            key: failed.record.key.clone(),
            value: Some(failed.error.to_string().into()),
            timestamp: failed.record.timestamp,
            headers: Vec::new(),
        }])
    }
}

/// With a handler that continues, the oversized record is skipped (and counted), what the
/// handler returned is written in its place, and the records after it arrive.
#[test]
fn a_continuing_production_handler_skips_the_oversized_record_and_writes_its_dead_letter() {
    for kafka in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let handler: std::sync::Arc<dyn ProductionExceptionHandler> = std::sync::Arc::new(DeadLetter);
        let (broker, mut app, _server) = oversized_output_app(dir.path(), Some(handler), kafka, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while keys_of(&broker, "out").len() < 2
            && app.failure().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            app.wait_until_idle(Duration::from_millis(300), Duration::from_secs(30)),
            "{:?}",
            app.failure()
        );
        app.stop().unwrap();
        assert_eq!(keys_of(&broker, "out"), vec!["a", "c"], "kafka: {kafka}");
        let dlq = broker.read("out.dlq", 0, 0, 1 << 20).unwrap();
        assert_eq!(dlq.len(), 1, "kafka: {kafka}");
        assert_eq!(dlq[0].key.as_deref(), Some(&b"b"[..]));
        let why = String::from_utf8_lossy(dlq[0].value.as_deref().unwrap_or_default()).to_string();
        // The embedded broker says why in its words; over the protocol, Kafka's error code does.
        assert!(why.contains("max.message.bytes=1000") || why.contains("too large"), "kafka: {kafka}: {why}");
        assert_eq!(app.metrics().records_skipped, 1, "kafka: {kafka}");
    }
}

/// Over the Kafka protocol, a batch the broker refuses after it was sent (the client's
/// `message.max.bytes` is larger than the topic's) fails the application before the commit,
/// even with a handler that continues: the batch's other records failed with it, so it is not
/// a refusal of one record.
#[test]
fn a_batch_the_broker_refuses_after_sending_fails_the_application_and_is_not_committed_past() {
    let dir = tempfile::tempdir().unwrap();
    let handler: std::sync::Arc<dyn ProductionExceptionHandler> = std::sync::Arc::new(DeadLetter);
    let (broker, app, _server) = oversized_output_app(dir.path(), Some(handler), true, true);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.failure().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let failure = app.failure().expect("the failed delivery became the application's failure");
    assert!(failure.contains("was not written") && failure.contains("too large"), "{failure}");
    assert!(app.close().is_err());
    let committed = broker.committed_offset("grows", "in", 0).map_or(0, |c| c.offset);
    assert!(committed <= 1, "the position was committed past the lost records: {committed}");
    assert!(!keys_of(&broker, "out").contains(&"b".to_string()));
}
