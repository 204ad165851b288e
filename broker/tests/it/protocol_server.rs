//! Connection behaviour of the protocol server: pipelining and reply order, `acks=0`, long-poll
//! fetch, idempotent sequences, and bad input that must close only the offending connection.

use std::io::Write;
use std::time::{Duration, Instant};

use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use bytes::BufMut;
use kafka_protocol::messages::*;

use super::server_support::{RawClient, TestServer, s};

fn produce(topic: &str, partition: i32, batch: bytes::Bytes, acks: i16) -> ProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(batch);
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(s(topic));
    t.partition_data.push(p);
    let mut req = ProduceRequest::default();
    req.transactional_id = None;
    req.acks = acks;
    req.timeout_ms = 10_000;
    req.topic_data.push(t);
    req
}

fn one(value: &str) -> bytes::Bytes {
    let mut b = RecordBatchBuilder::new(1);
    b.push(&NewRecord::new(None::<&str>, Some(value.to_string())));
    b.finish().freeze()
}

fn metadata() -> MetadataRequest {
    let mut req = MetadataRequest::default();
    req.topics = None;
    req
}

fn assert_still_serving(server: &TestServer) {
    let mut other = server.client();
    let resp: ApiVersionsResponse = other.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
}

#[test]
fn bad_frames_close_only_their_connection() {
    let server = TestServer::start(|_, s| s.max_frame_bytes = 1 << 20);
    let mut bystander = server.client();
    let _: ApiVersionsResponse = bystander.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());

    // Oversized: the declared size alone closes the connection; nothing is allocated for it.
    let mut c = server.client();
    c.stream.write_all(&(64i32 << 20).to_be_bytes()).unwrap();
    assert!(c.is_closed_by_server(), "oversized frame");

    // Negative and tiny sizes.
    let mut c = server.client();
    c.stream.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(c.is_closed_by_server(), "negative size");

    // Unknown API key.
    let mut c = server.client();
    let mut frame = bytes::BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(999);
    frame.put_i16(0);
    frame.put_i32(7);
    frame.put_i16(-1);
    c.stream.write_all(&frame).unwrap();
    assert!(c.is_closed_by_server(), "unknown api key");

    // A known API at a version the server does not implement.
    let mut c = server.client();
    let mut f = c.frame(ApiKey::Metadata, 9, &metadata()).1;
    f[6..8].copy_from_slice(&40i16.to_be_bytes());
    c.stream.write_all(&f).unwrap();
    assert!(c.is_closed_by_server(), "unsupported version");

    // Garbage after a valid header: a Metadata v1 request whose body is truncated nonsense.
    let mut c = server.client();
    let mut frame = bytes::BytesMut::new();
    frame.put_i32(16);
    frame.put_i16(3);
    frame.put_i16(1);
    frame.put_i32(1);
    frame.put_i16(-1);
    frame.put_slice(&[0x00, 0x00, 0x00, 0x05, 0xde, 0xad]); // 5 topics promised, 2 bytes given
    c.stream.write_all(&frame).unwrap();
    assert!(c.is_closed_by_server(), "truncated body");

    // Hostile array counts: 2^31 topics in 4 bytes (v1), u32::MAX in a compact array (v9). The
    // codec would size a ~150 GB allocation from them; the process must survive.
    for (version, body) in [(1i16, i32::MAX.to_be_bytes().to_vec()), (9, vec![0xff, 0xff, 0xff, 0xff, 0x0f])]
    {
        let mut c = server.client();
        let mut frame = bytes::BytesMut::new();
        frame.put_i16(3);
        frame.put_i16(version);
        frame.put_i32(1);
        frame.put_i16(-1);
        if version >= 9 {
            frame.put_u8(0); // header tagged fields
        }
        frame.put_slice(&body);
        frame.put_slice(&[0; 8]);
        let mut wire = (frame.len() as i32).to_be_bytes().to_vec();
        wire.extend_from_slice(&frame);
        c.stream.write_all(&wire).unwrap();
        assert!(c.is_closed_by_server(), "hostile count at v{version}");
    }

    // Random bytes as a frame.
    let mut c = server.client();
    let mut garbage = vec![0u8; 200];
    let mut x: u32 = 12345;
    for b in garbage.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    c.stream.write_all(&200i32.to_be_bytes()).unwrap();
    c.stream.write_all(&garbage).unwrap();
    assert!(c.is_closed_by_server(), "garbage");

    // The connection opened before all this still works, and so do new ones.
    let resp: MetadataResponse = bystander.call(ApiKey::Metadata, 9, &metadata());
    assert_eq!(resp.brokers.len(), 1);
    assert_still_serving(&server);
}

#[test]
fn pipelined_requests_are_answered_in_order_and_acks0_gets_no_reply() {
    let server = TestServer::start(|b, _| b.default_partitions = 1);
    server.broker.create_topic("pipe", 1, Default::default()).unwrap();
    let mut c = server.client();
    // A long-polling fetch first: later requests must still be answered after it, in order.
    let mut fp = fetch_request::FetchPartition::default();
    fp.partition = 0;
    fp.fetch_offset = 0;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = fetch_request::FetchTopic::default();
    ft.topic = TopicName(s("pipe"));
    ft.partitions.push(fp);
    let mut fetch = FetchRequest::default();
    fetch.replica_id = BrokerId(-1);
    fetch.max_wait_ms = 300;
    fetch.min_bytes = 1;
    fetch.max_bytes = 1 << 20;
    fetch.topics.push(ft);

    let started = Instant::now();
    let mut wire = bytes::BytesMut::new();
    let (f1, b) = c.frame(ApiKey::Fetch, 12, &fetch);
    wire.extend_from_slice(&b);
    let (_, b) = c.frame(ApiKey::Produce, 9, &produce("pipe", 0, one("silent"), 0));
    wire.extend_from_slice(&b);
    let (p2, b) = c.frame(ApiKey::Produce, 9, &produce("pipe", 0, one("loud"), -1));
    wire.extend_from_slice(&b);
    let (m3, b) = c.frame(ApiKey::Metadata, 1, &metadata());
    wire.extend_from_slice(&b);
    c.stream.write_all(&wire).unwrap();

    // The fetch was parked at an empty log; the acks=0 produce that followed it wakes it up.
    let f: FetchResponse = c.receive(ApiKey::Fetch, 12, f1);
    assert!(started.elapsed() < Duration::from_millis(5000));
    let p: ProduceResponse = c.receive(ApiKey::Produce, 9, p2);
    assert_eq!(p.responses[0].partition_responses[0].base_offset, 1, "acks=0 batch took offset 0");
    let m: MetadataResponse = c.receive(ApiKey::Metadata, 1, m3);
    assert_eq!(m.topics.iter().filter(|t| t.name.as_ref().unwrap().as_str() == "pipe").count(), 1);
    let hw = f.responses[0].partitions[0].high_watermark;
    assert!(hw >= 1, "fetch saw the acks=0 append, hw {hw}");
    assert_eq!(server.broker.read("pipe", 0, 0, 1 << 20).unwrap().len(), 2);
}

#[test]
fn long_poll_fetch_waits_for_max_wait_then_answers_empty() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("idle", 1, Default::default()).unwrap();
    let mut c = server.client();
    let mut fp = fetch_request::FetchPartition::default();
    fp.partition = 0;
    fp.partition_max_bytes = 1 << 20;
    let mut ft = fetch_request::FetchTopic::default();
    ft.topic = TopicName(s("idle"));
    ft.partitions.push(fp);
    let mut fetch = FetchRequest::default();
    fetch.replica_id = BrokerId(-1);
    fetch.max_wait_ms = 400;
    fetch.min_bytes = 1;
    fetch.max_bytes = 1 << 20;
    fetch.topics.push(ft);
    let started = Instant::now();
    let resp: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(380), "answered after {waited:?}, before max_wait_ms");
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 0));
    assert!(p.records.as_ref().unwrap().is_empty());
}

#[test]
fn idempotent_sequences_drop_duplicates_and_reject_gaps() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("idem", 1, Default::default()).unwrap();
    let mut c = server.client();
    let mut init = InitProducerIdRequest::default();
    init.transactional_id = None;
    let pid: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &init);
    let batch = |seq: i32, n: usize| {
        let mut b = RecordBatchBuilder::new(1).with_producer(pid.producer_id.0, pid.producer_epoch, seq);
        for i in 0..n {
            b.push(&NewRecord::new(None::<&str>, Some(format!("s{seq}-{i}"))));
        }
        b.finish().freeze()
    };
    let code_and_offset = |c: &mut RawClient, b| {
        let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce("idem", 0, b, -1));
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(code_and_offset(&mut c, batch(0, 3)), (0, 0));
    assert_eq!(code_and_offset(&mut c, batch(3, 2)), (0, 3));
    // A retry of the first batch: acknowledged with its original offset, not written again.
    assert_eq!(code_and_offset(&mut c, batch(0, 3)), (0, 0));
    // A gap: OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(code_and_offset(&mut c, batch(9, 1)).0, 45);
    assert_eq!(server.broker.read("idem", 0, 0, 1 << 20).unwrap().len(), 5);
}

#[test]
fn produce_to_internal_or_unknown_partitions_gets_error_codes() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("small", 1, Default::default()).unwrap();
    let mut c = server.client();
    let code = |c: &mut RawClient, topic: &str, p: i32| {
        let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce(topic, p, one("v"), 1));
        r.responses[0].partition_responses[0].error_code
    };
    assert_eq!(code(&mut c, "small", 5), 3);
    assert_eq!(code(&mut c, "__consumer_offsets", 0), 17);
    // acks=2 is not a thing.
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce("small", 0, one("v"), 2));
    assert_eq!(r.responses[0].partition_responses[0].error_code, 21);
    // max.message.bytes is enforced.
    server.broker.alter_topic_config("small", &[("max.message.bytes".into(), Some("100".into()))]).unwrap();
    let mut big = RecordBatchBuilder::new(1);
    big.push(&NewRecord::new(None::<&str>, Some("x".repeat(500))));
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce("small", 0, big.finish().freeze(), 1));
    assert_eq!(r.responses[0].partition_responses[0].error_code, 10);
}
