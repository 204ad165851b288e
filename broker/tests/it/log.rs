//! Behaviour of the partitioned log through the public broker API, on real files.

use std::time::Duration;

use brook_broker::log::record_batch::{BatchHeader, NewRecord, RecordBatchBuilder};
use brook_broker::{Broker, BrokerConfig, Error, OffsetAndMetadata, OffsetSpec, TopicConfig};
use bytes::Bytes;

fn config(dir: &std::path::Path) -> BrokerConfig {
    let mut c = BrokerConfig::new(dir);
    c.cleaner_interval = Duration::from_secs(3600);
    c
}

fn small_segments(extra: &[(&str, &str)]) -> TopicConfig {
    let mut pairs = vec![("segment.bytes", "4096"), ("index.interval.bytes", "256")];
    pairs.extend_from_slice(extra);
    TopicConfig::from_pairs(pairs).unwrap()
}

fn rec(key: &str, value: &str, ts: i64) -> NewRecord {
    NewRecord::new(Some(key.to_string()), Some(value.to_string())).with_timestamp(ts)
}

#[test]
fn append_read_round_trip_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker.create_topic("t", 1, small_segments(&[])).unwrap();
    for i in 0..2000 {
        let batch: Vec<_> = (0..3).map(|j| rec(&format!("k{i}"), &format!("v{i}-{j}"), 1000 + i)).collect();
        broker.produce("t", Some(0), batch).unwrap();
    }
    let d = broker.describe_topic("t").unwrap();
    assert!(d.partitions[0].segments > 20, "expected many segments, got {}", d.partitions[0].segments);
    assert_eq!(d.partitions[0].log_end_offset, 6000);
    // Read everything back in small fetches; offsets are dense and values in order.
    let mut next = 0;
    while next < 6000 {
        let records = broker.read("t", 0, next, 700).unwrap();
        assert!(!records.is_empty(), "no progress at {next}");
        for r in records {
            assert_eq!(r.offset, next);
            let (i, j) = (next / 3, next % 3);
            assert_eq!(r.value.as_deref(), Some(format!("v{i}-{j}").as_bytes()));
            next += 1;
        }
    }
    // Reading from the middle of a batch returns the whole batch that contains the offset.
    let data = broker.fetch("t", 0, 4000, 1).unwrap();
    let h = BatchHeader::parse(&data.batches).unwrap();
    assert!(h.base_offset <= 4000 && h.last_offset() >= 4000);
    assert_eq!(data.batches.len(), h.size, "max_bytes below one batch still returns exactly one batch");
    // The log end gives nothing; beyond it is out of range.
    assert!(broker.fetch("t", 0, 6000, 1 << 20).unwrap().batches.is_empty());
    assert!(matches!(broker.fetch("t", 0, 6001, 1 << 20), Err(Error::OffsetOutOfRange { .. })));
}

#[test]
fn offset_and_timestamp_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker.create_topic("t", 1, small_segments(&[])).unwrap();
    // Timestamps rise by 10 per record, with one out-of-order record in the middle.
    for i in 0..1000i64 {
        let ts = if i == 500 { 50 } else { 10_000 + i * 10 };
        broker.produce("t", Some(0), vec![rec("k", &i.to_string(), ts)]).unwrap();
    }
    assert_eq!(broker.list_offset("t", 0, OffsetSpec::Earliest).unwrap(), Some((0, -1)));
    assert_eq!(broker.list_offset("t", 0, OffsetSpec::Latest).unwrap(), Some((1000, -1)));
    for (target, expected) in [(0, 0), (10_000, 0), (10_001, 1), (15_000, 501), (14_990, 499), (19_990, 999)]
    {
        assert_eq!(
            broker.list_offset("t", 0, OffsetSpec::Timestamp(target)).unwrap().map(|x| x.0),
            Some(expected),
            "first offset with timestamp >= {target}"
        );
    }
    assert_eq!(broker.list_offset("t", 0, OffsetSpec::Timestamp(19_991)).unwrap(), None);
    assert_eq!(broker.list_offset("t", 0, OffsetSpec::MaxTimestamp).unwrap(), Some((999, 19_990)));
    // Every offset can be fetched directly through the sparse index.
    for o in (0..1000).step_by(37) {
        let r = broker.read("t", 0, o, 1).unwrap();
        assert_eq!(r[0].offset, o);
    }
}

#[test]
fn retention_by_bytes_and_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker.create_topic("by-bytes", 1, small_segments(&[("retention.bytes", "20000")])).unwrap();
    let now = brook_broker::util::now_ms();
    broker.create_topic("by-time", 1, small_segments(&[("retention.ms", "60000")])).unwrap();
    for i in 0..1000 {
        broker.produce("by-bytes", Some(0), vec![rec("k", &format!("{i:0100}"), now)]).unwrap();
        // The first 500 records are two hours old, the rest current.
        let ts = if i < 500 { now - 7_200_000 } else { now };
        broker.produce("by-time", Some(0), vec![rec("k", &format!("{i:0100}"), ts)]).unwrap();
    }
    let before = broker.describe_topic("by-bytes").unwrap().partitions[0].clone();
    assert!(before.size_bytes > 100_000);
    broker.run_cleaner().unwrap();
    let after = broker.describe_topic("by-bytes").unwrap().partitions[0].clone();
    assert!(after.size_bytes <= 20_000 + 4096, "size {} after retention", after.size_bytes);
    assert!(after.size_bytes > 20_000 - 4096, "retention removed too much: {}", after.size_bytes);
    assert!(after.log_start_offset > 0);
    assert_eq!(after.log_end_offset, 1000);
    assert_eq!(
        broker.list_offset("by-bytes", 0, OffsetSpec::Earliest).unwrap().unwrap().0,
        after.log_start_offset
    );
    assert!(matches!(broker.fetch("by-bytes", 0, 0, 100), Err(Error::OffsetOutOfRange { .. })));

    let t = broker.describe_topic("by-time").unwrap().partitions[0].clone();
    // Segments made only of old records are gone; the segment holding record 500 stays.
    assert!(t.log_start_offset > 400 && t.log_start_offset <= 500, "log start {}", t.log_start_offset);
    let first = broker.read("by-time", 0, t.log_start_offset, 1 << 20).unwrap();
    assert!(first.iter().any(|r| r.offset == 500));
}

#[test]
fn compaction_keeps_latest_per_key_and_drops_tombstones_after_delay() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker
        .create_topic(
            "c",
            1,
            small_segments(&[("cleanup.policy", "compact"), ("delete.retention.ms", "1500")]),
        )
        .unwrap();
    let now = brook_broker::util::now_ms();
    // 10 keys updated 50 times each; key 3 deleted at the end.
    for round in 0..50 {
        for k in 0..10 {
            broker.produce("c", Some(0), vec![rec(&format!("key{k}"), &format!("r{round}"), now)]).unwrap();
        }
    }
    broker.produce("c", Some(0), vec![NewRecord::new(Some("key3"), None::<Bytes>)]).unwrap();
    // Push everything above into rolled segments.
    for i in 0..200 {
        broker.produce("c", Some(0), vec![rec("filler", &format!("{i:0100}"), now)]).unwrap();
    }
    broker.run_cleaner().unwrap();
    let end = broker.list_offset("c", 0, OffsetSpec::Latest).unwrap().unwrap().0;
    let all = read_all(&broker, "c", end);
    let key3: Vec<_> = all.iter().filter(|r| r.key.as_deref() == Some(&b"key3"[..])).collect();
    assert_eq!(key3.len(), 1, "only the tombstone of key3 remains");
    assert!(key3[0].value.is_none());
    for k in [0, 1, 2, 4, 9] {
        let key = format!("key{k}");
        let v: Vec<_> = all.iter().filter(|r| r.key.as_deref() == Some(key.as_bytes())).collect();
        assert_eq!(v.len(), 1, "{key} compacted to one record");
        assert_eq!(v[0].value.as_deref(), Some(&b"r49"[..]));
    }
    assert!(all.len() < 250, "compaction removed superseded records ({} left)", all.len());
    // Offsets are preserved and still increasing.
    assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
    // After delete.retention.ms the tombstone goes too.
    std::thread::sleep(Duration::from_millis(1600));
    broker.run_cleaner().unwrap();
    let all = read_all(&broker, "c", end);
    assert!(!all.iter().any(|r| r.key.as_deref() == Some(&b"key3"[..])), "tombstone removed after the delay");
    assert_eq!(broker.list_offset("c", 0, OffsetSpec::Latest).unwrap().unwrap().0, end);
}

fn read_all(broker: &Broker, topic: &str, end: i64) -> Vec<brook_broker::Record> {
    let mut out = Vec::new();
    let mut next = 0;
    while next < end {
        let rs = broker.read(topic, 0, next, 1 << 20).unwrap();
        if rs.is_empty() {
            break;
        }
        next = rs.last().unwrap().offset + 1;
        out.extend(rs);
    }
    out
}

#[tokio::test]
async fn restart_preserves_topics_data_and_committed_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = Broker::open(config(dir.path())).unwrap();
        broker.create_topic("a", 3, TopicConfig::from_pairs([("retention.ms", "1234")]).unwrap()).unwrap();
        broker.create_topic("b", 1, TopicConfig::default()).unwrap();
        for i in 0..300 {
            broker.produce("a", None, vec![rec(&format!("k{i}"), &format!("v{i}"), 1)]).unwrap();
        }
        broker.delete_topic("b").unwrap();
        broker
            .commit_offsets(
                "g1",
                vec![(
                    "a".into(),
                    0,
                    OffsetAndMetadata { metadata: "meta".into(), ..OffsetAndMetadata::new(42) },
                )],
            )
            .await
            .unwrap();
        broker.commit_offsets("g1", vec![("a".into(), 0, OffsetAndMetadata::new(43))]).await.unwrap();
        broker.commit_offsets("g2", vec![("a".into(), 2, OffsetAndMetadata::new(7))]).await.unwrap();
        broker.close().unwrap();
    }
    for clean in [true, false] {
        let broker = Broker::open(config(dir.path())).unwrap();
        assert_eq!(broker.topic_names(), ["__consumer_offsets", "__transaction_state", "a"]);
        let d = broker.describe_topic("a").unwrap();
        assert_eq!(d.partitions.len(), 3);
        assert_eq!(d.config.overrides.get("retention.ms").map(String::as_str), Some("1234"));
        let total: i64 = d.partitions.iter().map(|p| p.log_end_offset).sum();
        assert_eq!(total, 300);
        assert_eq!(broker.committed_offset("g1", "a", 0).unwrap().offset, 43);
        assert_eq!(broker.committed_offset("g2", "a", 2).unwrap().offset, 7);
        assert!(broker.committed_offset("g2", "a", 0).is_none());
        // Keys stay on Kafka's partition for them.
        for p in 0..3 {
            for r in broker.read("a", p, 0, 1 << 20).unwrap() {
                let expected = brook_broker::partitioner::partition_for_key(r.key.as_deref().unwrap(), 3);
                assert_eq!(expected, p);
            }
        }
        if clean {
            broker.close().unwrap();
        } else {
            drop(broker); // unclean: no marker, the next open would scan
        }
    }
}

/// Damage the active segment: cut it mid-batch, then flip bytes in an earlier batch.
#[test]
fn crash_recovery_truncates_torn_and_corrupt_tail() {
    let dir = tempfile::tempdir().unwrap();
    let seg_path;
    let mut batch_ends = Vec::new();
    {
        let broker = Broker::open(config(dir.path())).unwrap();
        broker.create_topic("t", 1, TopicConfig::default()).unwrap();
        for i in 0..100 {
            broker.produce("t", Some(0), vec![rec("k", &format!("value-{i:04}"), i)]).unwrap();
            let size =
                std::fs::metadata(dir.path().join("topics/t/0/00000000000000000000.log")).unwrap().len();
            batch_ends.push(size);
        }
        seg_path = dir.path().join("topics/t/0/00000000000000000000.log");
        drop(broker); // crash: no clean shutdown
    }
    // 1. Torn write: cut the last batch in half.
    let len = std::fs::metadata(&seg_path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg_path).unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    {
        let broker = Broker::open(config(dir.path())).unwrap();
        let records = broker.read("t", 0, 0, 1 << 20).unwrap();
        assert_eq!(records.len(), 99, "every whole batch before the tear survives");
        assert_eq!(broker.list_offset("t", 0, OffsetSpec::Latest).unwrap().unwrap().0, 99);
        drop(broker);
    }
    // 2. Flip bytes inside batch 60 (its value), leaving the length intact.
    let mut data = std::fs::read(&seg_path).unwrap();
    let at = batch_ends[59] as usize + 70;
    data[at] ^= 0x55;
    data[at + 1] ^= 0xaa;
    std::fs::write(&seg_path, &data).unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    let records = broker.read("t", 0, 0, 1 << 20).unwrap();
    assert_eq!(records.len(), 60, "batches before the damaged one survive, nothing after");
    assert_eq!(records.last().unwrap().value.as_deref(), Some(&b"value-0059"[..]));
    assert_eq!(std::fs::metadata(&seg_path).unwrap().len(), batch_ends[59]);
    // The log keeps working: the next append gets the next offset.
    let placed = broker.produce("t", Some(0), vec![rec("k", "after", 1)]).unwrap();
    assert_eq!(placed, vec![(0, 60)]);
}

#[test]
fn damaged_or_missing_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = Broker::open(config(dir.path())).unwrap();
        broker.create_topic("t", 1, small_segments(&[])).unwrap();
        for i in 0..500 {
            broker.produce("t", Some(0), vec![rec("k", &format!("{i:040}"), i)]).unwrap();
        }
        broker.close().unwrap();
    }
    let pdir = dir.path().join("topics/t/0");
    let mut n = 0;
    for e in std::fs::read_dir(&pdir).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("index") if n % 2 == 0 => {
                std::fs::write(&p, b"garbage!garbage!").unwrap();
                n += 1;
            }
            Some("timeindex") => {
                std::fs::remove_file(&p).unwrap();
                n += 1;
            }
            _ => {}
        }
    }
    let broker = Broker::open(config(dir.path())).unwrap();
    for o in (0..500).step_by(13) {
        assert_eq!(broker.read("t", 0, o, 1).unwrap()[0].offset, o);
    }
    assert_eq!(broker.list_offset("t", 0, OffsetSpec::Timestamp(250)).unwrap().unwrap().0, 250);
}

#[test]
fn bad_batches_are_rejected_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker.create_topic("t", 1, TopicConfig::from_pairs([("max.message.bytes", "2000")]).unwrap()).unwrap();
    let mut b = RecordBatchBuilder::new(0);
    b.push(&rec("k", "v", 1));
    let good = b.finish();
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    let e = broker.append("t", 0, bad_crc).unwrap_err();
    assert!(e.to_string().contains("CRC mismatch"), "{e}");
    assert_eq!(e.kafka_code(), 2);
    let e = broker.append("t", 0, good.clone().split_to(30)).unwrap_err();
    assert!(matches!(e, Error::InvalidRecordBatch(_)), "{e}");
    let mut big = RecordBatchBuilder::new(0);
    big.push(&rec("k", &"x".repeat(3000), 1));
    let e = broker.append("t", 0, big.finish()).unwrap_err();
    assert!(matches!(e, Error::MessageTooLarge { max: 2000, .. }), "{e}");
    assert!(matches!(broker.append("nope", 0, good.clone()), Err(Error::UnknownTopicOrPartition(_))));
    assert!(matches!(broker.append("t", 5, good.clone()), Err(Error::UnknownTopicOrPartition(_))));
    assert!(matches!(
        broker.create_topic("bad/name", 1, TopicConfig::default()),
        Err(Error::InvalidTopicName(_))
    ));
    assert!(matches!(broker.create_topic("t", 1, TopicConfig::default()), Err(Error::TopicAlreadyExists(_))));
    // Nothing bad reached the log; the good batch appends at offset 0.
    assert_eq!(broker.append("t", 0, good).unwrap().base_offset, 0);
}

#[test]
fn idempotent_producer_duplicates_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    let pid = broker.allocate_producer_id().unwrap();
    let batch = |seq: i32| {
        let mut b = RecordBatchBuilder::new(0).with_producer(pid, 0, seq);
        b.push(&rec("k", &format!("s{seq}"), 1));
        b.push(&rec("k", &format!("s{seq}+1"), 1));
        b.finish()
    };
    assert_eq!(broker.append("t", 0, batch(0)).unwrap().base_offset, 0);
    let again = broker.append("t", 0, batch(0)).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.base_offset, 0);
    assert_eq!(broker.append("t", 0, batch(2)).unwrap().base_offset, 2);
    assert!(matches!(
        broker.append("t", 0, batch(7)),
        Err(Error::OutOfOrderSequence { expected: 4, got: 7, .. })
    ));
    assert_eq!(broker.read("t", 0, 0, 1 << 20).unwrap().len(), 4);
    assert_ne!(broker.allocate_producer_id().unwrap(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_makes_concurrent_appends_durable_with_few_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.flush_interval = None;
    let broker = Broker::open(c).unwrap();
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    let log = broker.partition("t", 0).unwrap();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let mut b = RecordBatchBuilder::new(0);
                b.push(&NewRecord::new(Some(format!("w{w}")), Some(format!("{i}"))));
                let info = log.append(b.finish()).unwrap();
                log.wait_durable(info.last_offset + 1).await.unwrap();
                assert!(log.durable_offset() > info.last_offset);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(log.durable_offset(), 640);
    let fsyncs = log.fsync_count();
    eprintln!("640 durable appends from 32 writers took {fsyncs} fsyncs");
    assert!(fsyncs < 640 / 2, "group commit should share fsyncs, but needed {fsyncs}");
}
