//! The runtime against a real embedded broker, with RocksDB state.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_streams::dsl::StreamsBuilder;
use brook_streams::{Connection, KafkaStreams, StreamsConfig};

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
