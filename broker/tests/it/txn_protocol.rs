//! The transaction APIs byte for byte (raw frames, round-trip checked): the error codes each
//! version gets, produce verification, read_committed Fetch and ListOffsets, and the admin APIs.

use brook_broker::log::control::EndTxnMarker;
use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use kafka_protocol::messages::*;

use super::server_support::{RawClient, TestServer, s};

fn init(
    c: &mut RawClient,
    version: i16,
    id: &str,
    timeout: i32,
    expected: (i64, i16),
) -> InitProducerIdResponse {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = Some(TransactionalId(s(id)));
    req.transaction_timeout_ms = timeout;
    req.producer_id = ProducerId(expected.0);
    req.producer_epoch = expected.1;
    c.call(ApiKey::InitProducerId, version, &req)
}

fn add_partitions(
    c: &mut RawClient,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
) -> Vec<i16> {
    let mut req = AddPartitionsToTxnRequest::default();
    req.v3_and_below_transactional_id = TransactionalId(s(id));
    req.v3_and_below_producer_id = ProducerId(pid);
    req.v3_and_below_producer_epoch = epoch;
    for (t, p) in parts {
        let mut topic = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
        topic.name = TopicName(s(t));
        topic.partitions.push(*p);
        req.v3_and_below_topics.push(topic);
    }
    let resp: AddPartitionsToTxnResponse = c.call(ApiKey::AddPartitionsToTxn, version, &req);
    resp.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

fn end_txn(c: &mut RawClient, version: i16, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let mut req = EndTxnRequest::default();
    req.transactional_id = TransactionalId(s(id));
    req.producer_id = ProducerId(pid);
    req.producer_epoch = epoch;
    req.committed = commit;
    let resp: EndTxnResponse = c.call(ApiKey::EndTxn, version, &req);
    resp.error_code
}

fn produce(c: &mut RawClient, topic: &str, batch: bytes::Bytes) -> (i16, i64) {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = 0;
    p.records = Some(batch);
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(s(topic));
    t.partition_data.push(p);
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data.push(t);
    let r: ProduceResponse = c.call(ApiKey::Produce, 7, &req);
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> bytes::Bytes {
    let mut b = RecordBatchBuilder::new(1).with_producer(pid, epoch, seq).transactional();
    for v in values {
        b.push(&NewRecord::new(None::<&str>, Some(v.to_string())));
    }
    b.finish().freeze()
}

/// (error, high watermark, last stable offset, aborted list, record bytes) of partition 0.
type Fetched = (i16, i64, i64, Option<Vec<(i64, i64)>>, usize);

fn fetch(c: &mut RawClient, topic: &str, isolation: i8) -> Fetched {
    let mut req = super::protocol_codec::fetch_req(11, topic, 0, 0, 0);
    req.isolation_level = isolation;
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &req);
    let p = &r.responses[0].partitions[0];
    let aborted = p
        .aborted_transactions
        .as_ref()
        .map(|a| a.iter().map(|a| (a.producer_id.0, a.first_offset)).collect());
    (p.error_code, p.high_watermark, p.last_stable_offset, aborted, p.records.as_ref().map_or(0, |r| r.len()))
}

fn latest(c: &mut RawClient, topic: &str, isolation: i8) -> i64 {
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -1;
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = TopicName(s(topic));
    t.partitions.push(p);
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.isolation_level = isolation;
    req.topics.push(t);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 5, &req);
    r.topics[0].partitions[0].offset
}

#[test]
fn transaction_apis_answer_kafkas_error_codes_per_version() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("raw-t", 1, Default::default()).unwrap();
    let mut c = server.client();
    let versions: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    for (key, max) in [(24, 3), (25, 4), (26, 4), (28, 4), (65, 0), (66, 1), (22, 5)] {
        let v = versions
            .api_keys
            .iter()
            .find(|v| v.api_key == key)
            .unwrap_or_else(|| panic!("key {key} advertised"));
        assert_eq!((v.min_version, v.max_version), (0, max), "key {key}");
    }

    // Timeouts above transaction.max.timeout.ms and empty ids are refused.
    assert_eq!(init(&mut c, 4, "raw", 900_001, (-1, -1)).error_code, 50);
    assert_eq!(init(&mut c, 4, "", 60_000, (-1, -1)).error_code, 42);
    let first = init(&mut c, 4, "raw", 60_000, (-1, -1));
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let pid = first.producer_id.0;
    // Re-initialising bumps the epoch; proving the current epoch (KIP-360) bumps it again.
    assert_eq!(init(&mut c, 2, "raw", 60_000, (-1, -1)).producer_epoch, 1);
    let bumped = init(&mut c, 4, "raw", 60_000, (pid, 1));
    assert_eq!((bumped.error_code, bumped.producer_id.0, bumped.producer_epoch), (0, pid, 2));
    // A stale epoch: PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before.
    assert_eq!(init(&mut c, 4, "raw", 60_000, (pid, 0)).error_code, 90);
    assert_eq!(init(&mut c, 3, "raw", 60_000, (pid, 0)).error_code, 47);
    let epoch = 2;

    // No transaction open: EndTxn is INVALID_TXN_STATE; a wrong pid INVALID_PRODUCER_ID_MAPPING.
    assert_eq!(end_txn(&mut c, 1, "raw", pid, epoch, true), 48);
    assert_eq!(end_txn(&mut c, 1, "raw", pid + 1000, epoch, true), 49);
    // Stale epochs on AddPartitionsToTxn: 47 before v2, 90 from v2.
    assert_eq!(add_partitions(&mut c, 1, "raw", pid, epoch - 1, &[("raw-t", 0)]), [47]);
    assert_eq!(add_partitions(&mut c, 3, "raw", pid, epoch - 1, &[("raw-t", 0)]), [90]);
    // An unknown partition fails, the rest of the request is not attempted.
    assert_eq!(add_partitions(&mut c, 3, "raw", pid, epoch, &[("raw-t", 0), ("nope", 0)]), [55, 3]);

    // Produce verification: a transactional batch to a partition not in the transaction.
    assert_eq!(produce(&mut c, "raw-t", txn_batch(pid, epoch, 0, &["a"])).0, 48);
    assert_eq!(add_partitions(&mut c, 3, "raw", pid, epoch, &[("raw-t", 0)]), [0]);
    assert_eq!(produce(&mut c, "raw-t", txn_batch(pid, epoch, 0, &["a", "b"])), (0, 0));
    // Clients cannot write control batches, and a stale epoch is refused by the partition.
    let control = EndTxnMarker { commit: true, coordinator_epoch: 0 }.encode(pid, epoch, 1).freeze();
    assert_eq!(produce(&mut c, "raw-t", control).0, 87);
    assert_eq!(produce(&mut c, "raw-t", txn_batch(pid, epoch - 1, 2, &["z"])).0, 47);

    // Open: read_committed sees nothing below the LSO (0); read_uncommitted sees the records.
    let (err, hw, lso, aborted, bytes) = fetch(&mut c, "raw-t", 1);
    assert_eq!((err, hw, lso, aborted, bytes), (0, 2, 0, Some(vec![]), 0));
    let (_, _, lso, aborted, bytes) = fetch(&mut c, "raw-t", 0);
    assert_eq!((lso, aborted), (0, None));
    assert!(bytes > 0);
    assert_eq!((latest(&mut c, "raw-t", 1), latest(&mut c, "raw-t", 0)), (0, 2));

    // Abort: the marker takes offset 2; read_committed gets the data with the aborted list.
    assert_eq!(end_txn(&mut c, 3, "raw", pid, epoch, false), 0);
    assert_eq!(end_txn(&mut c, 3, "raw", pid, epoch, false), 0, "a retried abort is answered again");
    assert_eq!(end_txn(&mut c, 3, "raw", pid, epoch, true), 48, "commit after abort");
    let (err, hw, lso, aborted, bytes) = fetch(&mut c, "raw-t", 1);
    assert_eq!((err, hw, lso, aborted), (0, 3, 3, Some(vec![(pid, 0)])));
    assert!(bytes > 0);
    assert_eq!(latest(&mut c, "raw-t", 1), 3);

    // The admin APIs.
    let mut describe = DescribeTransactionsRequest::default();
    describe.transactional_ids = vec![TransactionalId(s("raw")), TransactionalId(s("ghost"))];
    let d: DescribeTransactionsResponse = c.call(ApiKey::DescribeTransactions, 0, &describe);
    let raw = &d.transaction_states[0];
    assert_eq!(
        (raw.error_code, raw.transaction_state.as_str(), raw.producer_id.0, raw.producer_epoch),
        (0, "CompleteAbort", pid, epoch)
    );
    assert_eq!(d.transaction_states[1].error_code, 105);
    let mut list = ListTransactionsRequest::default();
    list.state_filters = vec![s("CompleteAbort"), s("Sleeping")];
    let l: ListTransactionsResponse = c.call(ApiKey::ListTransactions, 1, &list);
    assert_eq!(l.transaction_states.len(), 1);
    assert_eq!(l.transaction_states[0].transactional_id.as_str(), "raw");
    assert_eq!(l.unknown_state_filters, vec![s("Sleeping")]);
}

#[test]
fn offsets_in_an_open_transaction_are_unstable_for_require_stable_fetches() {
    let server = TestServer::start(|_, _| {});
    server.broker.create_topic("raw-in", 1, Default::default()).unwrap();
    let mut c = server.client();
    let r = init(&mut c, 4, "raw-offsets", 60_000, (-1, -1));
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    let mut add = AddOffsetsToTxnRequest::default();
    add.transactional_id = TransactionalId(s("raw-offsets"));
    add.producer_id = ProducerId(pid);
    add.producer_epoch = epoch;
    add.group_id = GroupId(s("raw-group"));
    let resp: AddOffsetsToTxnResponse = c.call(ApiKey::AddOffsetsToTxn, 3, &add);
    assert_eq!(resp.error_code, 0);
    let mut commit = TxnOffsetCommitRequest::default();
    commit.transactional_id = TransactionalId(s("raw-offsets"));
    commit.group_id = GroupId(s("raw-group"));
    commit.producer_id = ProducerId(pid);
    commit.producer_epoch = epoch;
    commit.generation_id = -1;
    let mut part = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
    part.partition_index = 0;
    part.committed_offset = 17;
    part.committed_leader_epoch = -1;
    let mut topic = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default();
    topic.name = TopicName(s("raw-in"));
    topic.partitions.push(part);
    commit.topics.push(topic);
    let resp: TxnOffsetCommitResponse = c.call(ApiKey::TxnOffsetCommit, 3, &commit);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    // A stale epoch is INVALID_PRODUCER_EPOCH.
    commit.producer_epoch = epoch - 1;
    let resp: TxnOffsetCommitResponse = c.call(ApiKey::TxnOffsetCommit, 3, &commit);
    assert_eq!(resp.topics[0].partitions[0].error_code, 47);

    let offset_fetch = |c: &mut RawClient, stable: bool| {
        let mut req = OffsetFetchRequest::default();
        req.group_id = GroupId(s("raw-group"));
        let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
        t.name = TopicName(s("raw-in"));
        t.partition_indexes = vec![0];
        req.topics = Some(vec![t]);
        req.require_stable = stable;
        let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &req);
        (r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].committed_offset)
    };
    assert_eq!(offset_fetch(&mut c, true), (88, -1), "UNSTABLE_OFFSET_COMMIT while pending");
    assert_eq!(offset_fetch(&mut c, false), (0, -1), "pending offsets are invisible");
    assert_eq!(end_txn(&mut c, 3, "raw-offsets", pid, epoch, true), 0);
    assert_eq!(offset_fetch(&mut c, true), (0, 17));
}
