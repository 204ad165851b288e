//! Kafka transactions against a real Brook server on 127.0.0.1 (port 0), with librdkafka
//! (the `rdkafka` crate) as the client, plus the coordinator's recovery after a crash.
//!
//! * commits and aborts across partitions of two topics: read_committed sees exactly the
//!   committed records, read_uncommitted sees all of them, the LSO catches up with the HW;
//! * `send_offsets_to_transaction`: offsets become the group's only when the transaction
//!   commits;
//! * a second producer with the same `transactional.id` fences the first (fatal error) and
//!   aborts what it left open;
//! * a transaction left open past `transaction.timeout.ms` is aborted by the coordinator;
//! * an open transaction survives a crash of the broker (its LSO stays put) and is aborted by
//!   the producer's next InitProducerId; a committed one stays committed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brook_broker::log::record_batch::BatchHeader;
use brook_broker::log::segment;
use brook_broker::{Broker, BrokerConfig, Isolation, NewRecord, OffsetAndMetadata, TopicConfig};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::server_support::TestServer;

const T: Duration = Duration::from_secs(30);

fn txn_producer(bootstrap: &str, id: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", id)
        .set("linger.ms", "1")
        .create()
        .unwrap()
}

fn reader(bootstrap: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap()
}

/// Reads every partition of `topics` from the beginning to its end; returns the values.
fn read_all(bootstrap: &str, isolation: &str, topics: &[(&str, i32)]) -> Vec<String> {
    let c = reader(bootstrap, isolation);
    let mut tpl = TopicPartitionList::new();
    for (t, n) in topics {
        for p in 0..*n {
            tpl.add_partition_offset(t, p, Offset::Beginning).unwrap();
        }
    }
    let mut open = tpl.count();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + T;
    while open > 0 {
        assert!(Instant::now() < deadline, "reading at {isolation} did not reach the end");
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap()),
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

/// Sends `n` records spread over partitions 0..3 of both topics.
fn send(p: &BaseProducer, prefix: &str, n: usize) {
    for i in 0..n {
        let topic = if i % 2 == 0 { "tx-a" } else { "tx-b" };
        let value = format!("{prefix}-{i}");
        p.send(BaseRecord::<(), _>::to(topic).partition((i % 3) as i32).payload(&value)).unwrap();
    }
    p.flush(T).unwrap();
}

/// A server with the topics `tx-a` and `tx-b` of 3 partitions each, and its bootstrap address.
fn two_topics(tune: impl FnOnce(&mut BrokerConfig)) -> (TestServer, String) {
    let server = TestServer::start(|b, _| tune(b));
    for t in ["tx-a", "tx-b"] {
        server.broker.create_topic(t, 3, TopicConfig::default()).unwrap();
    }
    let bootstrap = server.bootstrap();
    (server, bootstrap)
}

fn watermarks_settle(server: &TestServer, topics: &[&str]) {
    // With no transaction open every partition's LSO is its high watermark.
    for t in topics {
        for log in server.broker.topic(t).unwrap().partitions() {
            let stats = log.stats();
            assert_eq!(stats.last_stable_offset, stats.log_end_offset, "{t}-{}: LSO stuck", stats.partition);
            assert!(stats.open_transactions.is_empty());
        }
    }
}

#[test]
fn committed_records_are_visible_to_read_committed_and_aborted_ones_are_not() {
    let (server, bootstrap) = two_topics(|_| {});
    let p = txn_producer(&bootstrap, "tx-basic");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "c1", 30);
    p.commit_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "ab", 30);
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "c2", 12);
    p.commit_transaction(T).unwrap();

    let topics = [("tx-a", 3), ("tx-b", 3)];
    let committed: BTreeSet<_> = read_all(&bootstrap, "read_committed", &topics).into_iter().collect();
    let want: BTreeSet<_> =
        (0..30).map(|i| format!("c1-{i}")).chain((0..12).map(|i| format!("c2-{i}"))).collect();
    assert_eq!(committed, want, "read_committed sees exactly the committed records");
    let all = read_all(&bootstrap, "read_uncommitted", &topics);
    assert_eq!(all.len(), 72, "read_uncommitted sees aborted records too");
    assert_eq!(all.iter().filter(|v| v.starts_with("ab-")).count(), 30);
    watermarks_settle(&server, &["tx-a", "tx-b"]);

    // The coordinator's view: the id completed its last transaction.
    let meta = server.broker.transactions().describe("tx-basic").unwrap();
    assert_eq!(meta.state.name(), "CompleteCommit");
    // Each partition holds three markers (one per transaction) besides the data.
    let log = server.broker.partition("tx-a", 0).unwrap();
    let data = log.fetch(0, 1 << 20).unwrap();
    let markers = segment::batches(&data.batches).filter(|b| b.as_ref().unwrap().0.is_control()).count();
    assert_eq!(markers, 3);
    // The broker's read_committed fetch lists the aborted transaction.
    let committed = log.fetch_isolated(0, 1 << 20, Isolation::ReadCommitted).unwrap();
    assert_eq!(committed.aborted.as_ref().map(Vec::len), Some(1));
    assert_eq!(committed.last_stable_offset, committed.high_watermark);
}

#[test]
fn an_open_transaction_holds_the_lso_until_it_ends() {
    let (server, bootstrap) = two_topics(|_| {});
    let p = txn_producer(&bootstrap, "tx-lso");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "open", 6);
    let log = server.broker.partition("tx-a", 0).unwrap();
    let stats = log.stats();
    assert_eq!(stats.last_stable_offset, 0, "LSO at the open transaction's first offset");
    assert!(stats.log_end_offset > 0);
    assert_eq!(stats.open_transactions.len(), 1);
    assert!(read_all(&bootstrap, "read_committed", &[("tx-a", 3), ("tx-b", 3)]).is_empty());
    // librdkafka's watermark query uses ListOffsets at the consumer's isolation level.
    let c = reader(&bootstrap, "read_committed");
    assert_eq!(c.fetch_watermarks("tx-a", 0, T).unwrap().1, 0);
    let c = reader(&bootstrap, "read_uncommitted");
    assert_eq!(c.fetch_watermarks("tx-a", 0, T).unwrap().1, stats.log_end_offset);
    p.commit_transaction(T).unwrap();
    assert_eq!(read_all(&bootstrap, "read_committed", &[("tx-a", 3), ("tx-b", 3)]).len(), 6);
    watermarks_settle(&server, &["tx-a", "tx-b"]);
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let (server, bootstrap) = two_topics(|_| {});
    let first = txn_producer(&bootstrap, "tx-fence");
    first.init_transactions(T).unwrap();
    first.begin_transaction().unwrap();
    send(&first, "zombie", 6);

    let second = txn_producer(&bootstrap, "tx-fence");
    second.init_transactions(T).unwrap();
    let err = first.commit_transaction(T).unwrap_err();
    let KafkaError::Transaction(e) = &err else { panic!("expected a transaction error, got {err}") };
    assert!(e.is_fatal(), "fencing is fatal: {err}");
    assert!(
        matches!(
            e.code(),
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        ),
        "{err}"
    );
    // The zombie's transaction was aborted by the fencing; the new producer works.
    second.begin_transaction().unwrap();
    send(&second, "fresh", 4);
    second.commit_transaction(T).unwrap();
    let values = read_all(&bootstrap, "read_committed", &[("tx-a", 3), ("tx-b", 3)]);
    assert_eq!(values.len(), 4, "{values:?}");
    assert!(values.iter().all(|v| v.starts_with("fresh-")));
    watermarks_settle(&server, &["tx-a", "tx-b"]);
}

#[test]
fn offsets_sent_to_a_transaction_count_only_when_it_commits() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("tx-in", 2, TopicConfig::default()).unwrap();
    server.broker.create_topic("tx-a", 3, TopicConfig::default()).unwrap();
    server.broker.create_topic("tx-b", 3, TopicConfig::default()).unwrap();
    let bootstrap = server.bootstrap();
    let group_consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "tx-copier")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let p = txn_producer(&bootstrap, "tx-offsets");
    p.init_transactions(T).unwrap();
    let offsets = |n: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("tx-in", 0, Offset::Offset(n)).unwrap();
        tpl.add_partition_offset("tx-in", 1, Offset::Offset(n + 1)).unwrap();
        tpl
    };
    let committed = || {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("tx-in", 0);
        tpl.add_partition("tx-in", 1);
        let got = group_consumer.committed_offsets(tpl, T).unwrap();
        (got.find_partition("tx-in", 0).unwrap().offset(), got.find_partition("tx-in", 1).unwrap().offset())
    };
    let meta = group_consumer.group_metadata().unwrap();

    p.begin_transaction().unwrap();
    send(&p, "x", 2);
    p.send_offsets_to_transaction(&offsets(5), &meta, T).unwrap();
    // Pending until the transaction ends.
    assert_eq!(server.broker.committed_offset("tx-copier", "tx-in", 0), None);
    p.abort_transaction(T).unwrap();
    assert_eq!(committed(), (Offset::Invalid, Offset::Invalid), "aborted offsets are dropped");

    p.begin_transaction().unwrap();
    send(&p, "y", 2);
    p.send_offsets_to_transaction(&offsets(7), &meta, T).unwrap();
    p.commit_transaction(T).unwrap();
    assert_eq!(committed(), (Offset::Offset(7), Offset::Offset(8)));
    assert!(!server.broker.group_offsets().has_pending("tx-copier", "tx-in", 0));
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_by_the_coordinator() {
    let (server, bootstrap) =
        two_topics(|b| b.transactions.abort_timed_out_interval = Duration::from_millis(100));
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "tx-timeout")
        .set("transaction.timeout.ms", "1500")
        .create()
        .unwrap();
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send(&p, "late", 6);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.broker.transactions().describe("tx-timeout").unwrap().state.name() != "CompleteAbort" {
        assert!(Instant::now() < deadline, "the timed-out transaction was not aborted");
        std::thread::sleep(Duration::from_millis(100));
    }
    watermarks_settle(&server, &["tx-a", "tx-b"]);
    assert!(read_all(&bootstrap, "read_committed", &[("tx-a", 3), ("tx-b", 3)]).is_empty());
    assert!(p.commit_transaction(T).is_err(), "the producer learns its transaction is gone");
    // A transaction timeout above transaction.max.timeout.ms is refused at init.
    let greedy: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "tx-greedy")
        .set("transaction.timeout.ms", "900001")
        .create()
        .unwrap();
    let err = greedy.init_transactions(T).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("timeout"), "{err}");
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> bytes::BytesMut {
    let mut b = brook_broker::log::RecordBatchBuilder::new(1).with_producer(pid, epoch, seq).transactional();
    b.push(&NewRecord::new(None::<&str>, Some(value.to_string())));
    b.finish()
}

#[test]
fn transactions_survive_a_crash_and_the_next_init_aborts_the_open_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let open = || {
        let mut config = BrokerConfig::new(dir.path());
        config.flush_interval = None;
        Broker::open(config).unwrap()
    };
    let broker = open();
    broker.create_topic("t", 1, TopicConfig::default()).unwrap();
    let coord = broker.transactions();
    let parts = [("t".to_string(), 0)];
    let (pid, epoch) = rt.block_on(coord.init_producer_id(&broker, "app", 60_000, None)).unwrap();
    // A committed transaction, then an open one.
    rt.block_on(coord.add_partitions("app", pid, epoch, &parts)).unwrap();
    let log = broker.partition("t", 0).unwrap();
    for (seq, v) in ["c0", "c1"].iter().enumerate() {
        coord
            .append_transactional(pid, epoch, "t", 0, || log.append(txn_batch(pid, epoch, seq as i32, v)))
            .unwrap();
    }
    rt.block_on(coord.end_txn(&broker, "app", pid, epoch, true)).unwrap();
    rt.block_on(coord.add_partitions("app", pid, epoch, &parts)).unwrap();
    let open_first = coord
        .append_transactional(pid, epoch, "t", 0, || log.append(txn_batch(pid, epoch, 2, "open")))
        .unwrap()
        .base_offset;
    // Outside the transaction, or from a stale epoch, nothing gets in.
    assert!(coord.append_transactional(pid, epoch, "other", 0, || Ok(())).is_err());
    rt.block_on(log.wait_durable(open_first + 1)).unwrap();
    // Crash: no clean close (the page cache survives, as after kill -9).
    drop(log);
    drop(broker);

    let broker = open();
    let log = broker.partition("t", 0).unwrap();
    assert_eq!(log.last_stable_offset(), open_first, "the open transaction still holds the LSO");
    let committed = log.fetch_isolated(0, 1 << 20, Isolation::ReadCommitted).unwrap();
    let values: Vec<_> = segment::batches(&committed.batches)
        .map(|b| b.unwrap())
        .filter(|(h, _): &(BatchHeader, _)| !h.is_control())
        .flat_map(|(h, bytes)| h.records(&bytes, 1 << 20).unwrap())
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, ["c0", "c1"]);
    let meta = broker.transactions().describe("app").unwrap();
    assert_eq!(meta.state.name(), "Ongoing");
    // The producer comes back: its InitProducerId fences and aborts the open transaction.
    let (pid2, epoch2) =
        rt.block_on(broker.transactions().init_producer_id(&broker, "app", 60_000, None)).unwrap();
    assert_eq!(pid2, pid);
    assert_eq!(epoch2, epoch + 2, "one bump to abort, one for the new producer");
    assert_eq!(log.last_stable_offset(), log.stats().log_end_offset);
    let committed = log.fetch_isolated(0, 1 << 20, Isolation::ReadCommitted).unwrap();
    assert_eq!(committed.aborted, Some(vec![(pid, open_first)]));
    // The zombie epoch is refused by the partition itself.
    assert!(log.append(txn_batch(pid, epoch, 3, "zombie")).is_err());
    // Offsets: a committed transactional offset survives a restart too.
    let (pid3, epoch3) =
        rt.block_on(broker.transactions().init_producer_id(&broker, "copier", 60_000, None)).unwrap();
    rt.block_on(broker.transactions().add_offsets("copier", pid3, epoch3, "g")).unwrap();
    let offsets = [("t".to_string(), 0, OffsetAndMetadata::new(42))];
    rt.block_on(broker.transactions().commit_offsets(&broker, "copier", pid3, epoch3, "g", &offsets))
        .unwrap();
    assert!(broker.group_offsets().has_pending("g", "t", 0));
    rt.block_on(broker.transactions().end_txn(&broker, "copier", pid3, epoch3, true)).unwrap();
    assert_eq!(broker.committed_offset("g", "t", 0).map(|o| o.offset), Some(42));
    broker.close().unwrap();
    drop(log);
    drop(broker);
    let broker = open();
    assert_eq!(broker.committed_offset("g", "t", 0).map(|o| o.offset), Some(42));
    assert_eq!(broker.transactions().describe("copier").unwrap().state.name(), "CompleteCommit");
    broker.close().unwrap();
}

fn keyed_txn_batch(pid: i64, seq: i32, key: &str, value: &str) -> bytes::BytesMut {
    let mut b = brook_broker::log::RecordBatchBuilder::new(1).with_producer(pid, 0, seq).transactional();
    b.push(&NewRecord::new(Some(key.to_string()), Some(value.to_string())));
    b.finish()
}

#[test]
fn compaction_drops_aborted_records_keeps_markers_and_stops_at_the_lso() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.cleaner_interval = Duration::from_secs(3600);
    let broker = Broker::open(config).unwrap();
    let compact =
        TopicConfig::from_pairs([("cleanup.policy", "compact"), ("segment.bytes", "1024")]).unwrap();
    broker.create_topic("c", 1, compact).unwrap();
    let log = broker.partition("c", 0).unwrap();
    let commit = brook_broker::log::EndTxnMarker { commit: true, coordinator_epoch: 0 };
    let abort = brook_broker::log::EndTxnMarker { commit: false, coordinator_epoch: 0 };
    // Producer 1 commits k=old, producer 2 aborts k=aborted (its record must never count as
    // the latest value of k), then many committed rounds of other keys roll segments.
    log.append(keyed_txn_batch(1, 0, "k", "old")).unwrap();
    log.append_marker(1, 0, commit).unwrap();
    log.append(keyed_txn_batch(2, 0, "k", "aborted")).unwrap();
    log.append_marker(2, 0, abort).unwrap();
    for i in 0..40 {
        log.append(keyed_txn_batch(1, 1 + i, &format!("x{}", i % 4), &format!("v{i}"))).unwrap();
        log.append_marker(1, 0, commit).unwrap();
    }
    // An open transaction of producer 3 in the middle of the log, then more data.
    let open_at = log.append(keyed_txn_batch(3, 0, "k", "undecided")).unwrap().base_offset;
    for i in 0..40 {
        log.append(keyed_txn_batch(1, 41 + i, &format!("x{}", i % 4), &format!("w{i}"))).unwrap();
        log.append_marker(1, 0, commit).unwrap();
    }
    assert!(log.stats().segments > 4);
    assert_eq!(log.last_stable_offset(), open_at);
    let markers_before = count_markers(&log);
    broker.run_cleaner().unwrap();
    let values = |log: &brook_broker::PartitionLog| -> Vec<String> {
        all_batches(log)
            .into_iter()
            .filter(|(h, _)| !h.is_control())
            .flat_map(|(h, bytes)| h.records(&bytes, 1 << 20).unwrap())
            .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
            .collect()
    };
    let after = values(&log);
    assert!(after.contains(&"old".to_string()), "k's committed value survives: {after:?}");
    assert!(!after.contains(&"aborted".to_string()), "aborted data is removed: {after:?}");
    assert!(after.contains(&"undecided".to_string()), "nothing at or past the LSO is touched");
    assert!(after.contains(&"w0".to_string()), "data past the LSO is not compacted");
    assert!(!after.contains(&"v0".to_string()), "superseded committed data below the LSO is removed");
    assert_eq!(count_markers(&log), markers_before, "every marker is kept");
    // read_committed still reads consistently after compaction.
    assert_eq!(log.fetch_isolated(0, 1 << 24, Isolation::ReadCommitted).unwrap().last_stable_offset, open_at);
    broker.close().unwrap();
}

fn count_markers(log: &brook_broker::PartitionLog) -> usize {
    all_batches(log).iter().filter(|(h, _)| h.is_control()).count()
}

/// Every stored batch of a partition, across segments.
fn all_batches(log: &brook_broker::PartitionLog) -> Vec<(BatchHeader, bytes::Bytes)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let data = log.fetch(next, 1 << 24).unwrap();
        if data.batches.is_empty() {
            return out;
        }
        for b in segment::batches(&data.batches) {
            let (h, bytes) = b.unwrap();
            next = h.next_offset();
            out.push((h, bytes));
        }
    }
}
