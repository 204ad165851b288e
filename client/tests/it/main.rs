//! Round trips through both [`Cluster`] implementations against real things on loopback: the
//! embedded broker in-process, and the same broker's Kafka-protocol server on 127.0.0.1 reached
//! through librdkafka. The same checks run against both, so the two implementations agree.

mod embedded;
mod kafka;

use std::time::Duration;

use brook_broker::partitioner::partition_for_key;
use brook_broker::{Broker, BrokerConfig};
use brook_client::{Cluster, Committed, Error, NewRecord, RecordBatchBuilder};

/// A broker in `dir` that keeps its cleaner out of the way.
pub fn open_broker(dir: &std::path::Path) -> Broker {
    let mut config = BrokerConfig::new(dir);
    config.cleaner_interval = Duration::from_secs(3600);
    Broker::open(config).expect("open broker")
}

/// Topic administration: create (twice), list, describe, configs.
pub fn topic_admin(cluster: &dyn Cluster, topic: &str) {
    cluster.create_topic(topic, 3, &[("cleanup.policy", "compact")]).expect("create");
    let again = cluster.create_topic(topic, 3, &[]);
    assert!(matches!(again, Err(Error::TopicExists(ref t)) if t == topic), "{again:?}");
    assert_eq!(cluster.ensure_topic(topic, 1, &[]).unwrap(), 3, "ensure_topic keeps the existing topic");
    assert!(cluster.list_topics().unwrap().iter().any(|t| t == topic));
    assert_eq!(cluster.partitions(topic).unwrap(), Some(3));
    assert_eq!(cluster.partitions("no-such-topic").unwrap(), None);

    let info = cluster.describe_topic(topic).unwrap();
    assert_eq!(info.name, topic);
    assert_eq!(info.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(info.partitions.iter().all(|p| p.log_start_offset == 0 && p.log_end_offset == 0));
    let policy = info.configs.iter().find(|c| c.name == "cleanup.policy").expect("cleanup.policy listed");
    assert_eq!((policy.value.as_str(), policy.is_default), ("compact", false));
    let missing = cluster.describe_topic("no-such-topic");
    assert!(matches!(missing, Err(Error::UnknownTopic { .. })), "{missing:?}");

    let created = cluster.ensure_topic(&format!("{topic}-ensured"), 2, &[]).unwrap();
    assert_eq!(created, 2);
}

/// Produce with Kafka's partitioner, append with headers and timestamps, append a pre-built
/// batch, then read it all back, by offset and by time.
pub fn produce_and_read(cluster: &dyn Cluster, topic: &str) {
    cluster.create_topic(topic, 2, &[]).expect("create");

    // Keyed records go where Kafka's murmur2 puts them.
    let keys: Vec<String> = (0..20).map(|i| format!("key-{i}")).collect();
    let records = keys
        .iter()
        .map(|k| NewRecord::new(Some(k.clone()), Some(format!("v-{k}"))).with_timestamp(500))
        .collect();
    let placed = cluster.produce(topic, None, records).expect("produce");
    assert_eq!(placed.len(), keys.len());
    for (k, (p, _)) in keys.iter().zip(&placed) {
        assert_eq!(*p, partition_for_key(k.as_bytes(), 2), "partition of {k}");
    }
    let on_1 = placed.iter().filter(|(p, _)| *p == 1).count() as i64;
    let on_0 = placed.len() as i64 - on_1;

    // Appends keep order, headers (duplicate keys too), null values and timestamps.
    let appended = vec![
        NewRecord::new(Some("a"), Some("1"))
            .with_timestamp(1_000)
            .with_header("h", Some("x"))
            .with_header("h", Some("y")),
        NewRecord::new(Some("b"), None::<&str>).with_timestamp(2_000),
        NewRecord::new(None::<&str>, Some("3")).with_timestamp(3_000).with_header("empty", None::<&str>),
    ];
    let end = cluster.append(topic, 0, appended.clone()).expect("append");
    assert_eq!(end, on_0 + 3);
    assert_eq!(cluster.append(topic, 0, Vec::new()).unwrap(), end, "an empty append reports the end");

    let mut batch = RecordBatchBuilder::new(brook_broker::util::now_ms());
    for i in 0..5 {
        batch.push(
            &NewRecord::new(Some(format!("batch-{i}")), Some(format!("{i}"))).with_timestamp(4_000 + i),
        );
    }
    let end = cluster.append_batch(topic, 0, batch).expect("append_batch");
    assert_eq!(end, on_0 + 8);
    cluster.sync(topic, 0, end).expect("sync");
    assert_eq!(cluster.offsets(topic, 0).unwrap(), (0, end));
    assert_eq!(cluster.offsets(topic, 1).unwrap(), (0, on_1));

    let mut all = Vec::new();
    cluster.scan(topic, 0, 0, &mut |r| all.push(r.clone())).unwrap();
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..end).collect::<Vec<_>>());
    let tail = &all[on_0 as usize..];
    for (got, want) in tail.iter().zip(&appended) {
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        assert_eq!(Some(got.timestamp), want.timestamp);
        assert_eq!(got.headers, want.headers);
    }
    let batch_keys: Vec<_> = tail[3..].iter().map(|r| r.key.clone().unwrap()).collect();
    assert_eq!(batch_keys, (0..5).map(|i| format!("batch-{i}").into_bytes()).collect::<Vec<_>>());

    // Reads start at any offset and are empty at the end.
    let from_middle = cluster.read(topic, 0, on_0 + 1, 1 << 20).unwrap();
    assert_eq!(from_middle.first().map(|r| r.offset), Some(on_0 + 1));
    assert!(cluster.read(topic, 0, end, 1 << 20).unwrap().is_empty());

    // List offsets by time: the first offset whose timestamp is at or after the given one.
    assert_eq!(cluster.offset_for_timestamp(topic, 0, 0).unwrap(), Some(0));
    assert_eq!(cluster.offset_for_timestamp(topic, 0, 2_500).unwrap(), Some(on_0 + 2));
    assert_eq!(cluster.offset_for_timestamp(topic, 0, i64::MAX / 2).unwrap(), None);
}

/// Consumer-group commits keep their metadata; unknown groups and partitions have none.
pub fn group_offsets(cluster: &dyn Cluster, topic: &str, group: &str) {
    cluster.create_topic(topic, 2, &[]).expect("create");
    cluster
        .append(topic, 0, (0..10).map(|i| NewRecord::new(None::<&str>, Some(format!("{i}")))).collect())
        .unwrap();
    assert_eq!(cluster.committed(group, topic, 0).unwrap(), None);
    cluster
        .commit(
            group,
            &[(topic, 0, Committed::with_metadata(7, "file=a.json;line=7")), (topic, 1, Committed::new(0))],
        )
        .expect("commit");
    assert_eq!(
        cluster.committed(group, topic, 0).unwrap(),
        Some(Committed::with_metadata(7, "file=a.json;line=7"))
    );
    assert_eq!(cluster.committed(group, topic, 1).unwrap(), Some(Committed::new(0)));
    cluster.commit(group, &[(topic, 0, Committed::with_metadata(10, "done"))]).unwrap();
    assert_eq!(cluster.committed(group, topic, 0).unwrap(), Some(Committed::with_metadata(10, "done")));
    assert_eq!(cluster.committed(&format!("{group}-other"), topic, 0).unwrap(), None);
}

/// Deleting a topic removes it.
pub fn delete_topic(cluster: &dyn Cluster, topic: &str) {
    cluster.create_topic(topic, 1, &[]).expect("create");
    cluster.append(topic, 0, vec![NewRecord::new(Some("k"), Some("v"))]).unwrap();
    cluster.delete_topic(topic).expect("delete");
    // A remote cluster's metadata may lag a moment behind the deletion.
    let gone = (0..50).any(|_| {
        let gone = cluster.partitions(topic).unwrap().is_none();
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    });
    assert!(gone, "{topic} still listed after deletion");
    assert!(!cluster.list_topics().unwrap().iter().any(|t| t == topic));
}

/// Deleting a consumer group: refused while a real consumer (librdkafka, through the broker's
/// Kafka server at `bootstrap`) is a member, keeping its commits; once that consumer has left,
/// the group's commits are gone. A group that never existed is no error.
pub fn delete_group(cluster: &dyn Cluster, bootstrap: &str, topic: &str, group: &str) {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    cluster.create_topic(topic, 2, &[]).expect("create");
    cluster.append(topic, 0, vec![NewRecord::new(Some("k"), Some("v"))]).unwrap();
    cluster
        .commit(group, &[(topic, 0, Committed::with_metadata(1, "m")), (topic, 1, Committed::new(0))])
        .unwrap();

    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    member.subscribe(&[topic]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while member.assignment().unwrap().count() == 0 {
        assert!(std::time::Instant::now() < deadline, "the consumer never got its partitions");
        let _ = member.poll(Duration::from_millis(100));
    }
    let refused = cluster.delete_group(group);
    assert!(matches!(refused, Err(Error::GroupNotEmpty { group: ref g, .. }) if g == group), "{refused:?}");
    assert!(refused.unwrap_err().to_string().contains("stop its consumers"));
    assert_eq!(cluster.committed(group, topic, 0).unwrap(), Some(Committed::with_metadata(1, "m")));

    drop(member); // leaves the group
    cluster.delete_group(group).expect("delete an empty group");
    assert_eq!(cluster.committed(group, topic, 0).unwrap(), None);
    assert_eq!(cluster.committed(group, topic, 1).unwrap(), None);
    cluster.delete_group(group).expect("deleting it again is no error");
    cluster.delete_group("never-existed").expect("an unknown group is no error");
}

/// Config changes: set one, reset one, the others stay; bad values and missing topics fail
/// and change nothing.
pub fn alter_topic_config(cluster: &dyn Cluster, topic: &str) {
    cluster.create_topic(topic, 1, &[("cleanup.policy", "compact")]).expect("create");
    let config = |name: &str| {
        let info = cluster.describe_topic(topic).unwrap();
        let c = info.configs.into_iter().find(|c| c.name == name).unwrap();
        (c.value, c.is_default)
    };
    cluster.alter_topic_config(topic, &[("retention.ms", Some("3600000"))]).expect("set");
    assert_eq!(config("retention.ms"), ("3600000".to_string(), false));
    assert_eq!(config("cleanup.policy"), ("compact".to_string(), false), "not named: kept");
    cluster
        .alter_topic_config(topic, &[("retention.ms", None), ("segment.ms", Some("60000"))])
        .expect("reset and set");
    assert!(config("retention.ms").1, "back to its default");
    assert_eq!(config("segment.ms"), ("60000".to_string(), false));
    assert_eq!(config("cleanup.policy"), ("compact".to_string(), false));
    let bad = cluster.alter_topic_config(topic, &[("retention.ms", Some("soon"))]);
    assert!(bad.is_err(), "{bad:?}");
    assert!(config("retention.ms").1, "a refused change changes nothing");
    assert_eq!(config("segment.ms"), ("60000".to_string(), false));
    let missing = cluster.alter_topic_config("no-such-topic", &[("retention.ms", Some("1"))]);
    assert!(matches!(missing, Err(Error::UnknownTopic { .. })), "{missing:?}");
}
