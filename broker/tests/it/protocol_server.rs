//! Connection behaviour of the protocol server: pipelining and reply order, `acks=0`, long-poll
//! fetch, idempotent sequences, and bad input that must close only the offending connection.

use std::io::Write;
use std::time::{Duration, Instant};

use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use bytes::BufMut;
use kafka_protocol::messages::*;

use super::server_support::{RawClient, TestServer, s};

pub(super) fn produce(topic: &str, partition: i32, batch: bytes::Bytes, acks: i16) -> ProduceRequest {
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

pub(super) fn one(value: &str) -> bytes::Bytes {
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

fn join(c: &mut RawClient, group: &str, member: &str, session_ms: i32) -> JoinGroupResponse {
    let mut proto = join_group_request::JoinGroupRequestProtocol::default();
    proto.name = s("range");
    proto.metadata = bytes::Bytes::from_static(b"meta");
    let mut req = JoinGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member);
    req.session_timeout_ms = session_ms;
    req.rebalance_timeout_ms = 5000;
    req.protocol_type = s("consumer");
    req.protocols.push(proto);
    c.call(ApiKey::JoinGroup, 5, &req)
}

fn heartbeat(c: &mut RawClient, group: &str, generation: i32, member: &str) -> i16 {
    let mut req = HeartbeatRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id = generation;
    req.member_id = s(member);
    let resp: HeartbeatResponse = c.call(ApiKey::Heartbeat, 3, &req);
    resp.error_code
}

fn sync(
    c: &mut RawClient,
    group: &str,
    generation: i32,
    member: &str,
    assign: &[(&str, &str)],
) -> SyncGroupResponse {
    let mut req = SyncGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id = generation;
    req.member_id = s(member);
    for (m, a) in assign {
        let mut x = sync_group_request::SyncGroupRequestAssignment::default();
        x.member_id = s(m);
        x.assignment = bytes::Bytes::from(a.to_string());
        req.assignments.push(x);
    }
    c.call(ApiKey::SyncGroup, 3, &req)
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_group_rebalances() {
    let server = TestServer::start(|_, _| {});
    let (mut a, mut b) = (server.client(), server.client());
    // A joins alone: generation 1, leader.
    let ja = join(&mut a, "g", "", 1000);
    let id_a = ja.member_id.as_str().to_string();
    assert_eq!((ja.error_code, ja.generation_id), (0, 1));
    assert_eq!(sync(&mut a, "g", 1, &id_a, &[(&id_a, "all")]).assignment.as_ref(), b"all");
    // B joins: A learns of the rebalance from its heartbeat and rejoins; both get generation 2.
    let b_thread = {
        let mut b2 = RawClient::connect(server.addr);
        std::thread::spawn(move || join(&mut b2, "g", "", 1000))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while heartbeat(&mut a, "g", 1, &id_a) != 27 {
        assert!(Instant::now() < deadline, "no REBALANCE_IN_PROGRESS for A");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ja2 = join(&mut a, "g", &id_a, 1000);
    let jb = b_thread.join().unwrap();
    let id_b = jb.member_id.as_str().to_string();
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja2.leader.as_str(), id_a, "the leader stays the leader");
    assert_eq!(ja2.members.len(), 2, "the leader sees both members");
    assert!(jb.members.is_empty(), "followers see no member list");
    // B's SyncGroup waits for the leader's assignment.
    let b_sync = {
        let mut b3 = RawClient::connect(server.addr);
        let id_b = id_b.clone();
        std::thread::spawn(move || sync(&mut b3, "g", 2, &id_b, &[]))
    };
    std::thread::sleep(Duration::from_millis(100));
    let sa = sync(&mut a, "g", 2, &id_a, &[(&id_a, "p0"), (&id_b, "p1")]);
    assert_eq!(sa.assignment.as_ref(), b"p0");
    assert_eq!(b_sync.join().unwrap().assignment.as_ref(), b"p1");
    // A stale generation is refused.
    assert_eq!(heartbeat(&mut b, "g", 1, &id_b), 22);
    // A goes silent; B keeps heartbeating, and after A's session timeout B is told to rejoin.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let code = heartbeat(&mut b, "g", 2, &id_b);
        if code == 27 {
            break;
        }
        assert_eq!(code, 0);
        assert!(Instant::now() < deadline, "A's session never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let jb2 = join(&mut b, "g", &id_b, 1000);
    assert_eq!(jb2.generation_id, 3);
    assert_eq!(jb2.leader.as_str(), id_b, "B leads the group alone");
    assert_eq!(jb2.members.len(), 1);
    // A is gone for good.
    assert_eq!(heartbeat(&mut a, "g", 2, &id_a), 25);
    // B leaves: the group is empty.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s("g"));
    leave.member_id = s(&id_b);
    let resp: LeaveGroupResponse = b.call(ApiKey::LeaveGroup, 1, &leave);
    assert_eq!(resp.error_code, 0);
    let mut describe = DescribeGroupsRequest::default();
    describe.groups.push(GroupId(s("g")));
    let d: DescribeGroupsResponse = b.call(ApiKey::DescribeGroups, 3, &describe);
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
}

#[test]
fn fetch_limits_return_whole_first_batch_and_respect_max_bytes_after_it() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("lim", 2, Default::default()).unwrap();
    let mut c = server.client();
    let big = |tag: &str| {
        let mut b = RecordBatchBuilder::new(1);
        for i in 0..20 {
            b.push(&NewRecord::new(None::<&str>, Some(format!("{tag}-{i}-{}", "x".repeat(100)))));
        }
        b.finish().freeze()
    };
    for p in 0..2 {
        for _ in 0..3 {
            let r: ProduceResponse = c.call(ApiKey::Produce, 9, &produce("lim", p, big("b"), 1));
            assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        }
    }
    let batch_len = big("b").len();
    let fetch = |max_bytes: i32, partition_max: i32| {
        let mut t = fetch_request::FetchTopic::default();
        t.topic = TopicName(s("lim"));
        for p in 0..2 {
            let mut fp = fetch_request::FetchPartition::default();
            fp.partition = p;
            fp.fetch_offset = 25; // inside the second batch (offsets 20..40)
            fp.partition_max_bytes = partition_max;
            t.partitions.push(fp);
        }
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_wait_ms = 0;
        req.min_bytes = 1;
        req.max_bytes = max_bytes;
        req.topics.push(t);
        req
    };
    let sizes = |r: &FetchResponse| -> Vec<usize> {
        r.responses[0].partitions.iter().map(|p| p.records.as_ref().map_or(0, |b| b.len())).collect()
    };
    // Both limits below one batch: partition 0 still gets its whole first batch, partition 1
    // nothing (the limit is hard after the first batch); both report their high watermark.
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch(10, 10));
    assert_eq!(sizes(&r), vec![batch_len, 0]);
    assert!(r.responses[0].partitions.iter().all(|p| p.high_watermark == 60));
    let first = brook_broker::log::record_batch::BatchHeader::parse_prefix(
        r.responses[0].partitions[0].records.as_ref().unwrap(),
    )
    .unwrap();
    assert_eq!(first.base_offset, 20, "the batch containing offset 25");
    // Room for two batches per partition, and for three in total.
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch((3 * batch_len) as i32, (2 * batch_len) as i32));
    assert_eq!(sizes(&r), vec![2 * batch_len, batch_len]);
    // Generous limits: everything from the containing batch on.
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch(1 << 20, 1 << 20));
    assert_eq!(sizes(&r), vec![2 * batch_len, 2 * batch_len]);
}
