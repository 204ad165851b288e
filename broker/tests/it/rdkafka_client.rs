//! The real `rdkafka` crate (librdkafka) against a Brook server on 127.0.0.1, port 0: keyed
//! messages with headers through every compression codec, consumed back by a consumer group,
//! with committed offsets that a restarted consumer resumes from.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brook_broker::partitioner::partition_for_key;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::server_support::TestServer;

type Seen = (i32, String, String, Vec<(String, String)>);

fn producer(bootstrap: &str, compression: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.codec", compression)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("check.crcs", "true")
        .create()
        .unwrap()
}

fn consume(c: &BaseConsumer, want: usize, within: Duration) -> Vec<Seen> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        let Some(m) = c.poll(Duration::from_millis(200)) else { continue };
        let m = m.unwrap();
        let text = |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
        let headers = m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_string(), text(h.value))).collect())
            .unwrap_or_default();
        seen.push((m.partition(), text(m.key()), text(m.payload()), headers));
    }
    seen
}

#[test]
fn rdkafka_produces_keyed_messages_with_headers_and_a_group_consumes_them() {
    let server = TestServer::start(|b, _| b.default_partitions = 3);
    let bootstrap = server.bootstrap();
    let mut expected: BTreeMap<String, Seen> = BTreeMap::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let p = producer(&bootstrap, codec);
        for i in 0..40 {
            let key = format!("{codec}-key-{i}");
            let value = format!("{codec}-value-{i}");
            let headers = OwnedHeaders::new()
                .insert(Header { key: "trace", value: Some(&format!("t{i}")) })
                .insert(Header { key: "dup", value: Some("first") })
                .insert(Header { key: "dup", value: Some("second") });
            p.send(BaseRecord::to("rd-events").key(&key).payload(&value).headers(headers)).unwrap();
            let part = partition_for_key(key.as_bytes(), 3);
            let hs = vec![
                ("trace".to_string(), format!("t{i}")),
                ("dup".to_string(), "first".to_string()),
                ("dup".to_string(), "second".to_string()),
            ];
            expected.insert(key.clone(), (part, key, value, hs));
        }
        p.flush(Duration::from_secs(30)).unwrap();
    }
    assert_eq!(server.broker.topic("rd-events").unwrap().partition_count(), 3, "auto-created");

    let c = consumer(&bootstrap, "rd-group");
    c.subscribe(&["rd-events"]).unwrap();
    let seen = consume(&c, expected.len(), Duration::from_secs(60));
    assert_eq!(seen.len(), expected.len(), "consumed {} of {}", seen.len(), expected.len());
    for s in &seen {
        let want = expected.get(&s.1).unwrap_or_else(|| panic!("unexpected key {}", s.1));
        assert_eq!(s, want, "key {} (partition = murmur2 partitioner, value and headers intact)", s.1);
    }
    c.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(c);

    // More data, then a new consumer of the same group resumes from the committed offsets.
    let p = producer(&bootstrap, "none");
    for i in 0..10 {
        let key = format!("late-{i}");
        p.send(BaseRecord::to("rd-events").key(&key).payload("late")).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let c = consumer(&bootstrap, "rd-group");
    c.subscribe(&["rd-events"]).unwrap();
    let seen = consume(&c, 10, Duration::from_secs(60));
    let keys: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
    assert_eq!(seen.len(), 10, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("late-")), "resumed from committed offsets: {keys:?}");
    // Nothing more arrives.
    assert!(consume(&c, 1, Duration::from_secs(2)).is_empty());
}

#[test]
fn rdkafka_admin_and_metadata() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
    let server = TestServer::start(|_, _| {});
    let admin: AdminClient<_> =
        ClientConfig::new().set("bootstrap.servers", server.bootstrap()).create().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    rt.block_on(async {
        let t = NewTopic::new("rd-admin", 5, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
        let r = admin.create_topics([&t], &opts).await.unwrap();
        assert!(r[0].is_ok(), "{r:?}");
        let configs = admin.describe_configs([&ResourceSpecifier::Topic("rd-admin")], &opts).await.unwrap();
        let configs = configs[0].as_ref().unwrap();
        let policy = configs.get("cleanup.policy").unwrap();
        assert_eq!(policy.value.as_deref(), Some("compact"));
        assert!(!policy.is_default);
        assert!(configs.get("retention.ms").unwrap().is_default);
        let r = admin.delete_topics(&["rd-admin"], &opts).await.unwrap();
        assert!(r[0].is_ok(), "{r:?}");
    });
    assert!(server.broker.topic("rd-admin").is_err());
    let md = admin.inner().fetch_metadata(None, Duration::from_secs(10)).unwrap();
    assert_eq!(md.brokers()[0].host(), "127.0.0.1");
    assert_eq!(md.brokers()[0].port() as u16, server.addr.port());
}

/// `AdminClient::delete_groups` (DeleteGroups, key 42) against a real server: an unknown group
/// is GROUP_ID_NOT_FOUND, a group with an active member NON_EMPTY_GROUP (its offsets stay);
/// once its consumer has left, the group and its committed offsets are deleted, durably: they
/// stay deleted after the broker restarts, while another group's offsets survive.
#[test]
fn rdkafka_admin_deletes_consumer_groups() {
    use brook_broker::server::LoopbackServer;
    use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::types::RDKafkaErrorCode;

    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let mut config = BrokerConfig::new(dir.path());
        config.cleaner_interval = Duration::from_secs(3600);
        Broker::open(config).unwrap()
    };
    let broker = open();
    broker.create_topic("dg", 2, TopicConfig::default()).unwrap();
    for p in 0..2 {
        broker.produce("dg", Some(p), vec![NewRecord::new(Some("k"), Some("v")); 3]).unwrap();
    }
    let server = LoopbackServer::start(broker.clone()).unwrap();
    let bootstrap = server.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let delete = |group: &str| {
        let mut results = rt.block_on(admin.delete_groups(&[group], &opts)).unwrap();
        assert_eq!(results.len(), 1);
        match results.remove(0) {
            Ok(g) => Ok(g),
            Err((g, code)) => {
                assert_eq!(g, group);
                Err(code)
            }
        }
    };

    assert_eq!(delete("nobody"), Err(RDKafkaErrorCode::GroupIdNotFound));

    // An active member that consumed everything and committed.
    let c = consumer(&bootstrap, "doomed");
    c.subscribe(&["dg"]).unwrap();
    assert_eq!(consume(&c, 6, Duration::from_secs(60)).len(), 6);
    c.commit_consumer_state(CommitMode::Sync).unwrap();
    assert_eq!(broker.committed_offset("doomed", "dg", 1).map(|o| o.offset), Some(3));
    assert_eq!(delete("doomed"), Err(RDKafkaErrorCode::NonEmptyGroup));
    assert_eq!(broker.committed_offset("doomed", "dg", 1).map(|o| o.offset), Some(3), "refused: kept");

    // Groups that only commit (as `kafka-consumer-groups --reset-offsets` does), never join.
    for group in ["keep", "offsets-only"] {
        let committer = consumer(&bootstrap, group);
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("dg", 0, rdkafka::Offset::Offset(2)).unwrap();
        committer.commit(&tpl, CommitMode::Sync).unwrap();
    }
    assert_eq!(delete("offsets-only"), Ok("offsets-only".to_string()));
    assert_eq!(broker.committed_offset("offsets-only", "dg", 0), None);

    // The consumer leaves the group on close; then the group can go.
    drop(c);
    assert_eq!(delete("doomed"), Ok("doomed".to_string()));
    assert_eq!(broker.committed_offset("doomed", "dg", 0), None);
    assert_eq!(broker.committed_offset("doomed", "dg", 1), None);
    assert_eq!(delete("doomed"), Err(RDKafkaErrorCode::GroupIdNotFound), "gone");

    // After a restart the deletion holds and the other group's offsets are still there.
    drop(admin);
    server.shutdown().unwrap();
    broker.close().unwrap();
    drop(broker);
    let broker = open();
    assert_eq!(broker.committed_offset("doomed", "dg", 0), None);
    assert_eq!(broker.committed_offset("doomed", "dg", 1), None);
    assert_eq!(broker.committed_offset("keep", "dg", 0).map(|o| o.offset), Some(2));
    assert!(!broker.group_offsets().groups().contains(&"doomed".to_string()));
    broker.close().unwrap();
}
