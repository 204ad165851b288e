//! Regression tests for issue 18 (hardening): each test is named after what broke or could be
//! abused — oversized batches in the segment reader, gaps left by compaction, produce
//! validation, decompression bombs, request sizes, connection limits, idle connections, fetch
//! sizes, topic auto-creation and writes to internal topics. RELIABILITY.md maps each finding
//! to its test.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use brook_broker::{Broker, BrokerConfig, TopicConfig};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;

use super::protocol_codec::fetch_req;
use super::protocol_server::{one, produce};
use super::server_support::{RawClient, TestServer, s};

const NOW_ISH: i64 = 1_700_000_000_000;

fn config(dir: &std::path::Path) -> BrokerConfig {
    let mut c = BrokerConfig::new(dir);
    c.cleaner_interval = Duration::from_secs(3600);
    c
}

/// Removes the clean-shutdown marker and resets every recovery point, so the next open scans
/// (and CRC-checks) every segment as after a crash.
fn force_full_recovery(dir: &std::path::Path) {
    std::fs::remove_file(dir.join(".clean-shutdown")).unwrap();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "recovery-point") {
                std::fs::write(&p, "0").unwrap();
            }
        }
    }
}

#[test]
fn a_batch_larger_than_the_segment_read_chunk_survives_compaction_and_restart() {
    // The segment reader reads 4 MiB chunks; a larger batch used to overrun its cursor and
    // panic, killing the log cleaner and every later start.
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    let topic = TopicConfig::from_pairs([
        ("cleanup.policy", "compact"),
        ("max.message.bytes", "16777216"),
        ("segment.bytes", "1048576"),
    ])
    .unwrap();
    broker.create_topic("big", 1, topic).unwrap();
    let big_value = "x".repeat(6 << 20);
    broker.produce("big", Some(0), vec![NewRecord::new(Some("k-big"), Some(big_value.clone()))]).unwrap();
    for i in 0..3 {
        // Small records behind it, each superseded, so compaction rewrites their segment.
        broker.produce("big", Some(0), vec![NewRecord::new(Some(format!("k{i}")), Some("small"))]).unwrap();
        broker.produce("big", Some(0), vec![NewRecord::new(Some(format!("k{i}")), Some("newer"))]).unwrap();
    }
    // Another large batch rolls the segment of the small ones, so compaction reaches them.
    broker.produce("big", Some(0), vec![NewRecord::new(Some("k-big2"), Some("y".repeat(5 << 20)))]).unwrap();
    broker.run_cleaner().unwrap();
    let read_all = |b: &Broker| {
        let mut out = Vec::new();
        let end = b.describe_topic("big").unwrap().partitions[0].log_end_offset;
        let mut next = 0;
        while next < end {
            let records = b.read("big", 0, next, 1 << 20).unwrap();
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            out.extend(records);
        }
        out
    };
    let before = read_all(&broker);
    assert_eq!(before[0].value.as_deref(), Some(big_value.as_bytes()));
    assert_eq!(before.iter().filter(|r| r.value.as_deref() == Some(b"small".as_slice())).count(), 0);
    broker.close().unwrap();
    drop(broker);
    // A crash-like restart scans every segment, the 6 MiB batch included.
    force_full_recovery(dir.path());
    let broker = Broker::open(config(dir.path())).unwrap();
    let after = read_all(&broker);
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0].value.as_deref(), Some(big_value.as_bytes()));
    broker.run_cleaner().unwrap();
    broker.close().unwrap();
}

#[test]
fn a_compaction_gap_at_the_end_of_a_segment_does_not_stall_readers() {
    // Compaction keeps batch boundaries: a batch whose last records were compacted away still
    // ends at its original last offset. A reader at such an offset used to get nothing back
    // (the fetch stops at the segment end) and waited forever — the SQL command log, PRINT and
    // pull queries read internal topics this way.
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(config(dir.path())).unwrap();
    let topic = TopicConfig::from_pairs([("cleanup.policy", "compact"), ("segment.bytes", "2048")]).unwrap();
    broker.create_topic("_brook_gap", 1, topic).unwrap();
    let pad = "p".repeat(1500);
    // Batch 1 (its own segment): a@0, b@1. Batch 2: b@2 supersedes b@1. Batch 3 rolls batch 2.
    broker
        .produce(
            "_brook_gap",
            Some(0),
            vec![NewRecord::new(Some("a"), Some(pad.clone())), NewRecord::new(Some("b"), Some("old"))],
        )
        .unwrap();
    broker.produce("_brook_gap", Some(0), vec![NewRecord::new(Some("b"), Some(pad.clone()))]).unwrap();
    broker.produce("_brook_gap", Some(0), vec![NewRecord::new(Some("c"), Some(pad.clone()))]).unwrap();
    broker.produce("_brook_gap", Some(0), vec![NewRecord::new(Some("d"), Some("tail"))]).unwrap();
    assert!(broker.describe_topic("_brook_gap").unwrap().partitions[0].segments >= 3);
    broker.run_cleaner().unwrap();
    // Offset 1 is gone; a reader continuing after a@0 must still reach b@2 and beyond.
    let records = broker.read("_brook_gap", 0, 1, 1 << 20).unwrap();
    assert_eq!(records.first().map(|r| r.offset), Some(2), "reading from the gap");
    // The loop every internal-topic reader runs: from the start to the end, last offset + 1.
    let end = broker.describe_topic("_brook_gap").unwrap().partitions[0].log_end_offset;
    let (mut next, mut keys) = (0, Vec::new());
    while next < end {
        let records = broker.read("_brook_gap", 0, next, 1 << 20).unwrap();
        let Some(last) = records.last() else { panic!("stalled at offset {next} of {end}") };
        next = last.offset + 1;
        keys.extend(records.into_iter().map(|r| String::from_utf8(r.key.unwrap().to_vec()).unwrap()));
    }
    assert_eq!(keys, ["a", "b", "c", "d"]);
    broker.close().unwrap();
}

fn produce_code(c: &mut RawClient, topic: &str, batch: Bytes) -> i16 {
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce(topic, 0, batch, -1));
    r.responses[0].partition_responses[0].error_code
}

fn recrc(b: &mut BytesMut) {
    let size = b.len();
    let crc = crc32c::crc32c(&b[21..size]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn records(n: usize, ts: i64) -> BytesMut {
    let mut b = RecordBatchBuilder::new(ts);
    for i in 0..n {
        b.push(&NewRecord::new(Some(format!("k{i}")), Some("v")).with_timestamp(ts));
    }
    b.finish()
}

/// A batch with the given compression codec (attribute bits) and records section.
fn compressed(codec: i16, section: &[u8], count: i32) -> Bytes {
    let mut b = records(1, NOW_ISH);
    b.truncate(61);
    b.extend_from_slice(section);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    recrc(&mut b);
    b.freeze()
}

#[test]
fn produce_validates_batches_as_kafka_does_and_nothing_invalid_reaches_the_log() {
    let server = TestServer::start(|_, _| {});
    let b = &server.broker;
    b.create_topic("v", 1, TopicConfig::default()).unwrap();
    b.create_topic(
        "v-window",
        1,
        TopicConfig::from_pairs([
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "3600000"),
        ])
        .unwrap(),
    )
    .unwrap();
    b.create_topic("v-compact", 1, TopicConfig::from_pairs([("cleanup.policy", "compact")]).unwrap())
        .unwrap();
    let mut c = server.client();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;

    // recordsCount disagrees with lastOffsetDelta: INVALID_RECORD (87).
    let mut x = records(3, now);
    x[57..61].copy_from_slice(&5i32.to_be_bytes());
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "count vs lastOffsetDelta");
    // Count and delta agree but fewer records are encoded than declared: 87.
    let mut x = records(2, now);
    x[23..27].copy_from_slice(&2i32.to_be_bytes());
    x[57..61].copy_from_slice(&3i32.to_be_bytes());
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "records missing");
    // More bytes than the declared records: 87.
    let mut x = records(3, now);
    x[23..27].copy_from_slice(&1i32.to_be_bytes());
    x[57..61].copy_from_slice(&2i32.to_be_bytes());
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "trailing bytes");
    // A record whose length varint runs past the batch: 87.
    let mut x = records(1, now);
    x[61] = 0x7e; // length 63, far more than the record's few bytes
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "record length");
    // Offset deltas must count 0, 1, 2: the second record claims delta 5.
    let mut x = records(2, now);
    let second = 61 + 1 + x[61] as usize / 2; // first record: 1-byte length varint + body
    // second record: length(1) attributes(1) timestampDelta(1) offsetDelta(1)
    assert_eq!(x[second + 3], 2, "the second record's offset delta is zigzag(1)");
    x[second + 3] = 10;
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "offset deltas");
    // A flipped byte: CORRUPT_MESSAGE (2).
    let mut x = records(2, now);
    let n = x.len();
    x[n - 1] ^= 0x40;
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 2, "CRC");
    // Control batches come from the transaction coordinator only: 87.
    let mut x = records(1, now);
    x[21..23].copy_from_slice(&0x30i16.to_be_bytes());
    x[43..51].copy_from_slice(&7i64.to_be_bytes());
    x[51..53].copy_from_slice(&0i16.to_be_bytes());
    x[53..57].copy_from_slice(&0i32.to_be_bytes());
    recrc(&mut x);
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "control batch");
    // Two batches for one partition: 87.
    let mut x = records(1, now);
    x.extend_from_slice(&records(1, now));
    assert_eq!(produce_code(&mut c, "v", x.freeze()), 87, "two batches");
    // Timestamps outside message.timestamp.{before,after}.max.ms: INVALID_TIMESTAMP (32).
    assert_eq!(produce_code(&mut c, "v-window", records(1, now - 7_200_000).freeze()), 32, "too old");
    assert_eq!(produce_code(&mut c, "v-window", records(1, now + 7_200_000).freeze()), 32, "too new");
    // A compacted topic needs keys: 87.
    let mut nokey = RecordBatchBuilder::new(now);
    nokey.push(&NewRecord::new(None::<&str>, Some("v")));
    assert_eq!(produce_code(&mut c, "v-compact", nokey.finish().freeze()), 87, "keyless on compacted");
    // A compressed section that does not decompress: 87.
    assert_eq!(produce_code(&mut c, "v", compressed(4, b"definitely not zstd", 1)), 87, "bad zstd");

    for t in ["v", "v-window", "v-compact"] {
        assert_eq!(
            b.describe_topic(t).unwrap().partitions[0].log_end_offset,
            0,
            "{t}: nothing invalid reached the log"
        );
    }
    // Well-formed batches still go through, and the connection survived every rejection.
    assert_eq!(produce_code(&mut c, "v", records(3, now).freeze()), 0);
    assert_eq!(produce_code(&mut c, "v-window", records(1, now).freeze()), 0);
    assert_eq!(produce_code(&mut c, "v-compact", records(2, now).freeze()), 0);
    assert_eq!(b.read("v", 0, 0, 1 << 20).unwrap().len(), 3);
}

/// A memory figure of this process from /proc/self/status (`VmHWM`: peak resident memory;
/// `VmSize`: address space in use, which counts allocations before they are touched), in bytes.
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn peak_rss() -> u64 {
    proc_status("VmHWM:")
}

#[test]
fn a_decompression_bomb_is_rejected_while_decompressing() {
    // 2 GiB of zeros in a few hundred KiB of zstd: checked against message.max.bytes as it
    // decompresses (MESSAGE_TOO_LARGE), never inflated in memory first.
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb itself fits in message.max.bytes: {}", bomb.len());
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("bomb", 1, TopicConfig::default()).unwrap();
    let mut c = server.client();
    let before = peak_rss();
    assert_eq!(produce_code(&mut c, "bomb", compressed(4, &bomb, 1)), 10);
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 512 << 20, "peak memory grew by {} MiB for a rejected bomb", grown >> 20);
    assert_eq!(server.broker.describe_topic("bomb").unwrap().partitions[0].log_end_offset, 0);
    // A real zstd batch within the limit is accepted.
    let plain = records(3, NOW_ISH);
    let section = zstd::stream::encode_all(&plain[61..], 3).unwrap();
    assert_eq!(produce_code(&mut c, "bomb", compressed(4, &section, 3)), 0);
    assert_eq!(server.broker.read("bomb", 0, 0, 1 << 20).unwrap().len(), 3);
}

#[test]
fn a_request_size_field_allocates_nothing_until_the_bytes_arrive() {
    // socket.request.max.bytes is checked before anything is allocated, and a frame's buffer
    // grows only as its bytes arrive: connections that announce 100 MiB and send nothing cost
    // nothing, and connections.max.idle.ms closes them.
    let server = TestServer::start(|_, s| {
        s.max_frame_bytes = 200 << 20;
        s.connections_max_idle = Duration::from_millis(500);
    });
    // Zeroed allocations are lazily backed, so count address space, not resident pages.
    let before = proc_status("VmSize:");
    let mut liars: Vec<RawClient> = (0..40).map(|_| server.client()).collect();
    for c in &mut liars {
        c.stream.write_all(&(100i32 << 20).to_be_bytes()).unwrap();
        c.stream.write_all(&[0, 18, 0, 3]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let grown = proc_status("VmSize:").saturating_sub(before);
    assert!(grown < 1500 << 20, "40 × 100 MiB announced, allocations grew by {} MiB", grown >> 20);
    for c in &mut liars {
        assert!(c.is_closed_by_server(), "a stalled half-sent frame is closed after the idle timeout");
    }
    // Above socket.request.max.bytes: closed at once.
    let mut c = server.client();
    c.stream.write_all(&(300i32 << 20).to_be_bytes()).unwrap();
    assert!(c.is_closed_by_server());
}

fn api_versions_ok(c: &mut RawClient) -> bool {
    let corr = c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    c.stream.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let mut size = [0u8; 4];
    if c.stream.read_exact(&mut size).is_err() {
        return false;
    }
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    c.stream.read_exact(&mut body).unwrap();
    assert_eq!(i32::from_be_bytes(body[..4].try_into().unwrap()), corr);
    true
}

#[test]
fn max_connections_per_ip_closes_the_excess_and_max_connections_makes_clients_wait() {
    let server = TestServer::start(|_, s| s.max_connections_per_ip = 3);
    let mut open: Vec<RawClient> = (0..3).map(|_| server.client()).collect();
    for c in &mut open {
        assert!(api_versions_ok(c));
    }
    let mut fourth = server.client();
    assert!(fourth.is_closed_by_server(), "the 4th connection from 127.0.0.1 is closed");
    drop(open.pop());
    std::thread::sleep(Duration::from_millis(100));
    let mut again = server.client();
    assert!(api_versions_ok(&mut again), "a freed slot is usable again");

    let server = TestServer::start(|_, s| s.max_connections = 2);
    let mut a = server.client();
    let mut b = server.client();
    assert!(api_versions_ok(&mut a) && api_versions_ok(&mut b));
    // The third waits in the listen backlog: connected, but not served.
    let mut waiting = server.client();
    assert!(!api_versions_ok(&mut waiting), "served beyond max.connections");
    drop(a);
    // Once one closes, the waiting client is accepted and its queued request answered.
    waiting.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut size = [0u8; 4];
    waiting.stream.read_exact(&mut size).expect("the waiting client is served after a slot frees");
    assert!(api_versions_ok(&mut b));
}

#[test]
fn idle_connections_close_after_connections_max_idle_ms_but_waiting_ones_do_not() {
    let server = TestServer::start(|_, s| s.connections_max_idle = Duration::from_millis(300));
    server.broker.create_topic("idle", 1, TopicConfig::default()).unwrap();
    let mut idle = server.client();
    assert!(api_versions_ok(&mut idle));
    let started = Instant::now();
    assert!(idle.is_closed_by_server(), "an idle connection is closed");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A long-poll fetch (1.5 s, longer than the idle limit) is a reply in flight, not idleness.
    let mut c = server.client();
    let req = fetch_req(11, "idle", 0, 0, 1500);
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &req);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
}

#[test]
fn fetch_max_bytes_caps_what_a_client_asks_for() {
    let server = TestServer::start(|_, s| s.fetch_max_bytes = 3000);
    server.broker.create_topic("cap", 1, TopicConfig::default()).unwrap();
    let mut c = server.client();
    let batch = |i: usize| {
        let mut b = RecordBatchBuilder::new(NOW_ISH);
        b.push(&NewRecord::new(Some(format!("k{i}")), Some("x".repeat(1000))));
        b.finish().freeze()
    };
    for i in 0..10 {
        assert_eq!(produce_code(&mut c, "cap", batch(i)), 0);
    }
    let one_batch = batch(0).len();
    let mut req = fetch_req(11, "cap", 0, 0, 0);
    req.topics[0].partitions[0].partition_max_bytes = 50 << 20;
    req.max_bytes = 50 << 20;
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &req);
    let got = r.responses[0].partitions[0].records.as_ref().map_or(0, |b| b.len());
    assert_eq!(got, 2 * one_batch, "50 MiB asked, fetch.max.bytes=3000 gives two ~1 KiB batches");
}

fn metadata_for(c: &mut RawClient, topic: &str) -> i16 {
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(s(topic)));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    req.allow_auto_topic_creation = true;
    let resp: MetadataResponse = c.call(ApiKey::Metadata, 9, &req);
    resp.topics[0].error_code
}

#[test]
fn auto_create_topics_enable_false_stops_metadata_from_creating_topics() {
    let server = TestServer::start(|b, _| b.auto_create_topics = false);
    let mut c = server.client();
    assert_eq!(metadata_for(&mut c, "nope"), 3);
    assert!(server.broker.topic("nope").is_err());
    // Produce never creates topics either.
    assert_eq!(produce_code(&mut c, "nope", one("v")), 3);
    assert!(server.broker.topic("nope").is_err());

    // Enabled (Kafka's default): Metadata creates ordinary names, never internal ones.
    let server = TestServer::start(|_, _| {});
    let mut c = server.client();
    assert_eq!(metadata_for(&mut c, "yes"), 0);
    assert!(server.broker.topic("yes").is_ok());
    for internal in ["_brook_sneaky", "__sneaky"] {
        assert_ne!(metadata_for(&mut c, internal), 0);
        assert!(server.broker.topic(internal).is_err(), "{internal} was auto-created");
    }
}

#[test]
fn internal_topics_are_read_only_to_kafka_clients() {
    let server = TestServer::start(|_, _| {});
    let b = &server.broker;
    b.create_topic("_brook_commands", 1, TopicConfig::default()).unwrap();
    b.produce("_brook_commands", Some(0), vec![NewRecord::new(Some("k"), Some("by brook itself"))]).unwrap();
    let mut c = server.client();
    // Produce: INVALID_TOPIC_EXCEPTION (17), as Kafka answers for its internal topics.
    assert_eq!(produce_code(&mut c, "_brook_commands", one("evil")), 17);
    assert_eq!(produce_code(&mut c, "__consumer_offsets", one("evil")), 17);
    // Delete, truncate, reconfigure, create: refused.
    let mut del = DeleteTopicsRequest::default();
    del.topic_names.push(TopicName(s("_brook_commands")));
    del.timeout_ms = 5000;
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 4, &del);
    assert_eq!(r.responses[0].error_code, 17);
    let mut p = delete_records_request::DeleteRecordsPartition::default();
    p.offset = 1;
    let mut t = delete_records_request::DeleteRecordsTopic::default();
    t.name = TopicName(s("_brook_commands"));
    t.partitions.push(p);
    let mut dr = DeleteRecordsRequest::default();
    dr.topics.push(t);
    dr.timeout_ms = 5000;
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 1, &dr);
    assert_eq!(r.topics[0].partitions[0].error_code, 17);
    let mut ct = create_topics_request::CreatableTopic::default();
    ct.name = TopicName(s("__mine"));
    ct.num_partitions = 1;
    ct.replication_factor = 1;
    let mut cr = CreateTopicsRequest::default();
    cr.topics.push(ct);
    cr.timeout_ms = 5000;
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &cr);
    assert_eq!(r.topics[0].error_code, 17);
    assert!(b.topic("__mine").is_err());
    // Reading stays allowed.
    let records = b.read("_brook_commands", 0, 0, 1 << 20).unwrap();
    assert_eq!(records.len(), 1, "nothing but Brook's own record");
    let fr = fetch_req(11, "_brook_commands", 0, 0, 0);
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fr);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(r.responses[0].partitions[0].records.as_ref().is_some_and(|r| !r.is_empty()));
    // Brook's own Kafka-protocol writer (`brook connect run --bootstrap`) may write its topics,
    // as Kafka lets its own admin client write internal topics.
    b.create_topic("_brook_connect_offsets", 1, TopicConfig::default()).unwrap();
    let mut own = server.client();
    own.client_id = "brook-connect";
    assert_eq!(produce_code(&mut own, "_brook_connect_offsets", one("checkpoint")), 0);
    assert_eq!(produce_code(&mut own, "__consumer_offsets", one("evil")), 17, "never __*");
}

#[test]
fn broker_limits_are_described_with_kafkas_names() {
    let server = TestServer::start(|b, s| {
        b.message_max_bytes = 2_000_000;
        b.auto_create_topics = false;
        s.max_frame_bytes = 50 << 20;
        s.max_connections = 123;
        s.max_connections_per_ip = 45;
        s.connections_max_idle = Duration::from_millis(60_000);
        s.fetch_max_bytes = 1 << 20;
    });
    let mut r = describe_configs_request::DescribeConfigsResource::default();
    r.resource_type = 4;
    r.resource_name = s("0");
    r.configuration_keys = None;
    let mut req = DescribeConfigsRequest::default();
    req.resources.push(r);
    let resp: DescribeConfigsResponse = server.client().call(ApiKey::DescribeConfigs, 4, &req);
    let value = |name: &str| {
        let c = resp.results[0].configs.iter().find(|c| c.name.as_str() == name);
        c.and_then(|c| c.value.as_ref()).map(|v| v.as_str().to_string()).unwrap_or_default()
    };
    assert_eq!(value("message.max.bytes"), "2000000");
    assert_eq!(value("socket.request.max.bytes"), (50 << 20).to_string());
    assert_eq!(value("max.connections"), "123");
    assert_eq!(value("max.connections.per.ip"), "45");
    assert_eq!(value("connections.max.idle.ms"), "60000");
    assert_eq!(value("fetch.max.bytes"), (1 << 20).to_string());
    assert_eq!(value("auto.create.topics.enable"), "false");
}
