//! Codec round trips for every request and response version the server advertises.
//!
//! For each API in [`SUPPORTED_APIS`] and each version in its advertised range, a request is
//! encoded as a client would, decoded as the server does and re-encoded byte for byte; then it
//! is sent to a real server, and the response is decoded at that version with nothing left over
//! and re-encoded to the same bytes. Each response is also checked for the expected content, so
//! every advertised version is exercised end to end, not just parsed.

use brook_broker::log::record_batch::{NewRecord, RecordBatchBuilder};
use brook_broker::server::SUPPORTED_APIS;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use super::server_support::{RawClient, TestServer, s};

fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
    let &(_, lo, hi) = SUPPORTED_APIS.iter().find(|(k, _, _)| *k == api).expect("advertised");
    lo..=hi
}

/// Client encode → server decode → server encode gives identical bytes.
fn request_round_trip<R: Encodable + Decodable>(api: ApiKey, version: i16, req: &R) {
    let mut a = BytesMut::new();
    req.encode(&mut a, version).unwrap_or_else(|e| panic!("{api:?} v{version} request encode: {e}"));
    let mut bytes = a.clone().freeze();
    let decoded =
        R::decode(&mut bytes, version).unwrap_or_else(|e| panic!("{api:?} v{version} request decode: {e}"));
    assert!(bytes.is_empty(), "{api:?} v{version}: request bytes left over");
    let mut b = BytesMut::new();
    decoded.encode(&mut b, version).unwrap();
    assert_eq!(a, b, "{api:?} v{version}: request does not re-encode identically");
}

fn call<R: Encodable + Decodable, T: Decodable + Encodable>(
    c: &mut RawClient,
    api: ApiKey,
    v: i16,
    req: &R,
) -> T {
    request_round_trip(api, v, req);
    c.call(api, v, req)
}

fn batch(values: &[&str]) -> Bytes {
    let mut b = RecordBatchBuilder::new(1_700_000_000_000);
    for v in values {
        b.push(&NewRecord::new(Some(format!("key-{v}")), Some(v.to_string())).with_header("h", Some("x")));
    }
    b.finish().freeze()
}

fn create_topic(c: &mut RawClient, name: &str, partitions: i32) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics.push(t);
    req.timeout_ms = 10_000;
    let resp: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &req);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);
}

fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
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

pub fn fetch_req(version: i16, topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = fetch_request::FetchTopic::default();
    t.topic = TopicName(s(topic));
    t.partitions.push(p);
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    if version >= 3 {
        req.max_bytes = 4 << 20;
    }
    req.topics.push(t);
    req
}

#[test]
fn api_versions_every_version_and_the_unknown_version_fallback() {
    let server = TestServer::start(|_, _| {});
    let mut c = server.client();
    for v in versions(ApiKey::ApiVersions) {
        let mut req = ApiVersionsRequest::default();
        if v >= 3 {
            req.client_software_name = s("brook-test");
            req.client_software_version = s("1.0");
        }
        let resp: ApiVersionsResponse = call(&mut c, ApiKey::ApiVersions, v, &req);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
        let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 9));
    }
    // An ApiVersions version from the future: v0 header and body, error 35, the full list.
    let corr = c.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let _: ApiVersionsResponse = c.receive(ApiKey::ApiVersions, 3, corr);
    let mut frame = c.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).1;
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    let corr = i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
    std::io::Write::write_all(&mut c.stream, &frame).unwrap();
    let resp: ApiVersionsResponse = c.receive(ApiKey::ApiVersions, 0, corr);
    assert_eq!(resp.error_code, 35);
    assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
}

#[test]
fn topic_admin_apis_every_version() {
    let server = TestServer::start(|b, _| b.default_partitions = 2);
    let mut c = server.client();
    for v in versions(ApiKey::CreateTopics) {
        let name = format!("admin-create-v{v}");
        let mut cfg = create_topics_request::CreatableTopicConfig::default();
        cfg.name = s("retention.ms");
        cfg.value = Some(s("1000000"));
        let mut t = create_topics_request::CreatableTopic::default();
        t.name = TopicName(s(&name));
        t.num_partitions = if v >= 4 { -1 } else { 3 };
        t.replication_factor = if v >= 4 { -1 } else { 1 };
        t.configs.push(cfg);
        let mut req = CreateTopicsRequest::default();
        req.topics.push(t);
        req.timeout_ms = 5000;
        let resp: CreateTopicsResponse = call(&mut c, ApiKey::CreateTopics, v, &req);
        assert_eq!(resp.topics[0].error_code, 0, "v{v}: {:?}", resp.topics[0].error_message);
        let expected = if v >= 4 { 2 } else { 3 };
        assert_eq!(server.broker.topic(&name).unwrap().partition_count(), expected);
        if v >= 5 {
            assert_eq!(resp.topics[0].num_partitions, expected);
            let configs = resp.topics[0].configs.as_ref().unwrap();
            let r = configs.iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
            assert_eq!(r.value.as_ref().unwrap().as_str(), "1000000");
        }
        // Creating it again is TOPIC_ALREADY_EXISTS.
        let again: CreateTopicsResponse = call(&mut c, ApiKey::CreateTopics, v, &req);
        assert_eq!(again.topics[0].error_code, 36);
    }
    for v in versions(ApiKey::CreatePartitions) {
        let name = format!("admin-create-v{}", 2 + v % 4);
        let before = server.broker.topic(&name).unwrap().partition_count();
        let mut t = create_partitions_request::CreatePartitionsTopic::default();
        t.name = TopicName(s(&name));
        t.count = before + 1;
        t.assignments = None;
        let mut req = CreatePartitionsRequest::default();
        req.topics.push(t);
        req.timeout_ms = 5000;
        let resp: CreatePartitionsResponse = call(&mut c, ApiKey::CreatePartitions, v, &req);
        assert_eq!(resp.results[0].error_code, 0, "v{v}: {:?}", resp.results[0].error_message);
        assert_eq!(server.broker.topic(&name).unwrap().partition_count(), before + 1);
    }
    for v in versions(ApiKey::DescribeConfigs) {
        let mut r = describe_configs_request::DescribeConfigsResource::default();
        r.resource_type = 2;
        r.resource_name = s("admin-create-v2");
        r.configuration_keys = None;
        let mut req = DescribeConfigsRequest::default();
        req.resources.push(r);
        req.include_synonyms = true;
        if v >= 3 {
            req.include_documentation = true;
        }
        let resp: DescribeConfigsResponse = call(&mut c, ApiKey::DescribeConfigs, v, &req);
        let result = &resp.results[0];
        assert_eq!(result.error_code, 0);
        assert_eq!(result.configs.len(), brook_broker::log::config::TOPIC_CONFIGS.len());
        let retention = result.configs.iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
        assert_eq!(retention.value.as_ref().unwrap().as_str(), "1000000");
        assert_eq!(retention.config_source, 1);
        let policy = result.configs.iter().find(|c| c.name.as_str() == "cleanup.policy").unwrap();
        assert_eq!(policy.value.as_ref().unwrap().as_str(), "delete");
        assert_eq!(policy.config_source, 5);
    }
    for v in versions(ApiKey::AlterConfigs) {
        let name = format!("admin-create-v{}", 2 + v);
        let mut cfg = alter_configs_request::AlterableConfig::default();
        cfg.name = s("retention.ms");
        cfg.value = Some(s("2000000"));
        let mut r = alter_configs_request::AlterConfigsResource::default();
        r.resource_type = 2;
        r.resource_name = s(&name);
        r.configs.push(cfg);
        let mut req = AlterConfigsRequest::default();
        req.resources.push(r);
        let resp: AlterConfigsResponse = call(&mut c, ApiKey::AlterConfigs, v, &req);
        assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0].error_message);
        let config = server.broker.topic(&name).unwrap().config();
        assert_eq!(config.get("retention.ms").unwrap(), ("2000000".to_string(), false));
    }
    for v in versions(ApiKey::IncrementalAlterConfigs) {
        let name = format!("admin-create-v{}", 2 + v);
        let mut cfg = incremental_alter_configs_request::AlterableConfig::default();
        cfg.name = s("cleanup.policy");
        cfg.config_operation = 2; // APPEND
        cfg.value = Some(s("compact"));
        let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
        r.resource_type = 2;
        r.resource_name = s(&name);
        r.configs.push(cfg);
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources.push(r);
        let resp: IncrementalAlterConfigsResponse = call(&mut c, ApiKey::IncrementalAlterConfigs, v, &req);
        assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0].error_message);
        let config = server.broker.topic(&name).unwrap().config();
        assert_eq!(config.get("cleanup.policy").unwrap().0, "delete,compact");
        // The earlier AlterConfigs override survives an incremental change.
        assert_eq!(config.get("retention.ms").unwrap().0, "2000000");
    }
    for v in versions(ApiKey::DeleteRecords) {
        let name = format!("records-v{v}");
        create_topic(&mut c, &name, 1);
        let _: ProduceResponse =
            c.call(ApiKey::Produce, 9, &produce_req(&name, 0, batch(&["a", "b", "c"]), 1));
        let mut p = delete_records_request::DeleteRecordsPartition::default();
        p.partition_index = 0;
        p.offset = 2;
        let mut t = delete_records_request::DeleteRecordsTopic::default();
        t.name = TopicName(s(&name));
        t.partitions.push(p);
        let mut req = DeleteRecordsRequest::default();
        req.topics.push(t);
        req.timeout_ms = 5000;
        let resp: DeleteRecordsResponse = call(&mut c, ApiKey::DeleteRecords, v, &req);
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        assert_eq!(resp.topics[0].partitions[0].low_watermark, 2);
    }
    for v in versions(ApiKey::DeleteTopics) {
        let name = format!("admin-create-v{}", 2 + v % 4);
        let mut req = DeleteTopicsRequest::default();
        req.topic_names.push(TopicName(s(&name)));
        req.timeout_ms = 5000;
        let resp: DeleteTopicsResponse = call(&mut c, ApiKey::DeleteTopics, v, &req);
        let expected = if v == 5 { 3 } else { 0 }; // v5 names a topic v1 already deleted
        assert_eq!(resp.responses[0].error_code, expected, "v{v} deleting {name}");
        assert!(server.broker.topic(&name).is_err());
    }
}

#[test]
fn metadata_produce_fetch_list_offsets_every_version() {
    let server = TestServer::start(|b, s| {
        b.default_partitions = 4;
        s.advertised_host = "127.0.0.1".into();
    });
    let mut c = server.client();
    for v in versions(ApiKey::Metadata) {
        let name = format!("meta-auto-v{v}");
        let mut t = metadata_request::MetadataRequestTopic::default();
        t.name = Some(TopicName(s(&name)));
        let mut req = MetadataRequest::default();
        req.topics = Some(vec![t]);
        if v < 4 {
            req.allow_auto_topic_creation = true;
        }
        let resp: MetadataResponse = call(&mut c, ApiKey::Metadata, v, &req);
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.brokers[0].port, i32::from(server.addr.port()));
        if v >= 1 {
            assert_eq!(resp.controller_id, resp.brokers[0].node_id);
        }
        assert_eq!(resp.topics[0].error_code, 0);
        assert_eq!(resp.topics[0].partitions.len(), 4, "auto-created with the default partitions");
        if v >= 4 {
            // Auto-creation can be refused per request.
            let mut t = metadata_request::MetadataRequestTopic::default();
            t.name = Some(TopicName(s(&format!("meta-none-v{v}"))));
            let mut req = MetadataRequest::default();
            req.topics = Some(vec![t]);
            req.allow_auto_topic_creation = false;
            let resp: MetadataResponse = call(&mut c, ApiKey::Metadata, v, &req);
            assert_eq!(resp.topics[0].error_code, 3);
        }
    }
    create_topic(&mut c, "data", 2);
    let mut next_offset = 0;
    for v in versions(ApiKey::Produce) {
        let records = batch(&[&format!("p{v}-1"), &format!("p{v}-2")]);
        let acks = if v % 2 == 0 { 1 } else { -1 };
        let resp: ProduceResponse = call(&mut c, ApiKey::Produce, v, &produce_req("data", 1, records, acks));
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.base_offset, next_offset, "v{v}");
        next_offset += 2;
        // A bad CRC is CORRUPT_MESSAGE and nothing is written.
        let mut bad = BytesMut::from(&batch(&["x"])[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let resp: ProduceResponse =
            call(&mut c, ApiKey::Produce, v, &produce_req("data", 1, bad.freeze(), 1));
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 2);
        let resp: ProduceResponse =
            call(&mut c, ApiKey::Produce, v, &produce_req("nope", 0, batch(&["x"]), 1));
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);
    }
    for v in versions(ApiKey::Fetch) {
        let resp: FetchResponse = call(&mut c, ApiKey::Fetch, v, &fetch_req(v, "data", 1, 3, 100));
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.high_watermark, next_offset);
        assert_eq!(p.last_stable_offset, next_offset);
        // Offset 3 is inside the second batch (offsets 2-3): that whole batch comes first.
        let records = p.records.clone().unwrap();
        let first = brook_broker::log::record_batch::BatchHeader::parse_prefix(&records).unwrap();
        assert_eq!(first.base_offset, 2);
        let resp: FetchResponse =
            call(&mut c, ApiKey::Fetch, v, &fetch_req(v, "data", 1, next_offset + 5, 100));
        assert_eq!(resp.responses[0].partitions[0].error_code, 1, "OFFSET_OUT_OF_RANGE");
    }
    for v in versions(ApiKey::ListOffsets) {
        let mut cases = vec![(-1, next_offset), (-2, 0), (1_700_000_000_000, 0), (i64::MAX, -1)];
        if v >= 7 {
            cases.push((-3, 0)); // max timestamp: every record has the same one; the first wins
        }
        for (ts, expected) in cases {
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.partition_index = 1;
            p.timestamp = ts;
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = TopicName(s("data"));
            t.partitions.push(p);
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            req.topics.push(t);
            let resp: ListOffsetsResponse = call(&mut c, ApiKey::ListOffsets, v, &req);
            let p = &resp.topics[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert_eq!(p.offset, expected, "v{v} timestamp {ts}");
        }
    }
    for v in versions(ApiKey::InitProducerId) {
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = None;
        req.transaction_timeout_ms = 60_000;
        let resp: InitProducerIdResponse = call(&mut c, ApiKey::InitProducerId, v, &req);
        assert_eq!(resp.error_code, 0);
        assert!(resp.producer_id.0 >= 0);
        assert_eq!(resp.producer_epoch, 0);
        if v >= 3 {
            req.producer_id = resp.producer_id;
            req.producer_epoch = 0;
            let bumped: InitProducerIdResponse = call(&mut c, ApiKey::InitProducerId, v, &req);
            assert_eq!((bumped.producer_id, bumped.producer_epoch), (resp.producer_id, 1));
        }
    }
}

#[test]
fn group_apis_every_version() {
    let server = TestServer::start(|_, _| {});
    let mut c = server.client();
    create_topic(&mut c, "grouped", 2);
    for v in versions(ApiKey::FindCoordinator) {
        let mut req = FindCoordinatorRequest::default();
        req.key = s("g");
        let resp: FindCoordinatorResponse = call(&mut c, ApiKey::FindCoordinator, v, &req);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.port, i32::from(server.addr.port()));
        assert_eq!(resp.host.as_str(), "127.0.0.1");
    }
    // Each JoinGroup version gets its own group; later APIs reuse them at their own versions.
    let mut members = Vec::new();
    for v in versions(ApiKey::JoinGroup) {
        let group = format!("group-v{v}");
        let mut proto = join_group_request::JoinGroupRequestProtocol::default();
        proto.name = s("range");
        proto.metadata = Bytes::from_static(b"\x00\x01subscription");
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(s(&group));
        req.session_timeout_ms = 10_000;
        if v >= 1 {
            req.rebalance_timeout_ms = 10_000;
        }
        req.protocol_type = s("consumer");
        req.protocols.push(proto);
        let resp: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, v, &req);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.generation_id, 1);
        assert_eq!(resp.leader, resp.member_id, "the only member leads");
        assert_eq!(resp.members.len(), 1);
        assert_eq!(&resp.members[0].metadata[..], b"\x00\x01subscription");
        assert_eq!(resp.protocol_name.as_ref().map(|p| p.as_str()), Some("range"));
        members.push((group, resp.member_id.as_str().to_string()));
    }
    let member = |v: i16| members[v as usize % members.len()].clone();
    // SyncGroup at each of its versions, then v5 again for the groups beyond its range.
    let sync_versions = versions(ApiKey::SyncGroup).chain([5, 5]);
    for (i, v) in sync_versions.enumerate() {
        let (group, id) = members[i].clone();
        let mut a = sync_group_request::SyncGroupRequestAssignment::default();
        a.member_id = s(&id);
        a.assignment = Bytes::from(format!("assignment-{v}"));
        let mut req = SyncGroupRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id = 1;
        req.member_id = s(&id);
        if v >= 5 {
            req.protocol_type = Some(s("consumer"));
            req.protocol_name = Some(s("range"));
        }
        req.assignments.push(a);
        let resp: SyncGroupResponse = call(&mut c, ApiKey::SyncGroup, v, &req);
        assert_eq!(resp.error_code, 0);
        assert_eq!(&resp.assignment[..], format!("assignment-{v}").as_bytes());
    }
    for v in versions(ApiKey::Heartbeat) {
        let (group, id) = member(v);
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id = 1;
        req.member_id = s(&id);
        let resp: HeartbeatResponse = call(&mut c, ApiKey::Heartbeat, v, &req);
        assert_eq!(resp.error_code, 0);
        req.generation_id = 7;
        let resp: HeartbeatResponse = call(&mut c, ApiKey::Heartbeat, v, &req);
        assert_eq!(resp.error_code, 22, "ILLEGAL_GENERATION");
        req.member_id = s("stranger");
        let resp: HeartbeatResponse = call(&mut c, ApiKey::Heartbeat, v, &req);
        assert_eq!(resp.error_code, 25, "UNKNOWN_MEMBER_ID");
    }
    for v in versions(ApiKey::OffsetCommit) {
        let (group, id) = member(v);
        let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
        p.partition_index = 1;
        p.committed_offset = 40 + v as i64;
        p.committed_metadata = Some(s(&format!("meta-{v}")));
        let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
        t.name = TopicName(s("grouped"));
        t.partitions.push(p);
        let mut req = OffsetCommitRequest::default();
        req.group_id = GroupId(s(&group));
        req.generation_id_or_member_epoch = 1;
        req.member_id = s(&id);
        req.topics.push(t.clone());
        let resp: OffsetCommitResponse = call(&mut c, ApiKey::OffsetCommit, v, &req);
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
        assert_eq!(server.broker.committed_offset(&group, "grouped", 1).unwrap().offset, 40 + v as i64);
        // A group-less ("simple") commit.
        let mut simple = OffsetCommitRequest::default();
        simple.group_id = GroupId(s(&format!("simple-{v}")));
        simple.topics.push(t);
        let resp: OffsetCommitResponse = call(&mut c, ApiKey::OffsetCommit, v, &simple);
        assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    }
    for v in versions(ApiKey::OffsetFetch) {
        let committed_v = 2 + (v % 7); // one of the OffsetCommit versions above
        let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
        t.name = TopicName(s("grouped"));
        t.partition_indexes = vec![0, 1];
        let mut req = OffsetFetchRequest::default();
        req.group_id = GroupId(s(&format!("simple-{committed_v}")));
        req.topics = Some(vec![t]);
        let resp: OffsetFetchResponse = call(&mut c, ApiKey::OffsetFetch, v, &req);
        let parts = &resp.topics[0].partitions;
        assert_eq!(parts[0].committed_offset, -1, "nothing committed for partition 0");
        assert_eq!(parts[1].committed_offset, 40 + committed_v as i64);
        assert_eq!(parts[1].metadata.as_ref().unwrap().as_str(), format!("meta-{committed_v}"));
    }
    for v in versions(ApiKey::DescribeGroups) {
        let (group, id) = member(v);
        let mut req = DescribeGroupsRequest::default();
        req.groups.push(GroupId(s(&group)));
        req.groups.push(GroupId(s("no-such-group")));
        let resp: DescribeGroupsResponse = call(&mut c, ApiKey::DescribeGroups, v, &req);
        assert_eq!(resp.groups[0].group_state.as_str(), "Stable");
        assert_eq!(resp.groups[0].protocol_data.as_str(), "range");
        assert_eq!(resp.groups[0].members[0].member_id.as_str(), id);
        assert_eq!(resp.groups[0].members[0].client_id.as_str(), "brook-test");
        assert_eq!(resp.groups[1].group_state.as_str(), "Dead");
    }
    for v in versions(ApiKey::ListGroups) {
        let resp: ListGroupsResponse = call(&mut c, ApiKey::ListGroups, v, &ListGroupsRequest::default());
        let ids: Vec<_> = resp.groups.iter().map(|g| g.group_id.as_str().to_string()).collect();
        assert!(ids.contains(&"group-v0".to_string()) && ids.contains(&"simple-2".to_string()), "{ids:?}");
        if v >= 4 {
            let g = resp.groups.iter().find(|g| g.group_id.as_str() == "group-v0").unwrap();
            assert_eq!(g.group_state.as_str(), "Stable");
        }
    }
    // DeleteGroups refuses groups with members, unknown groups and the empty id.
    let delete = |c: &mut RawClient, v: i16, groups: &[&str]| -> Vec<i16> {
        let mut req = DeleteGroupsRequest::default();
        req.groups_names = groups.iter().map(|g| GroupId(s(g))).collect();
        let resp: DeleteGroupsResponse = call(c, ApiKey::DeleteGroups, v, &req);
        let names: Vec<_> = resp.results.iter().map(|r| r.group_id.as_str().to_string()).collect();
        assert_eq!(names, groups, "one result per group, in request order");
        resp.results.iter().map(|r| r.error_code).collect()
    };
    // Groups group-v2.. have committed offsets (OffsetCommit starts at v2).
    for v in versions(ApiKey::DeleteGroups) {
        let (group, _) = member(v + 2);
        let codes = delete(&mut c, v, &[&group, "no-such-group", ""]);
        assert_eq!(codes, [68, 69, 24], "NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, INVALID_GROUP_ID");
        assert!(
            server.broker.committed_offset(&group, "grouped", 1).is_some(),
            "a refused delete keeps offsets"
        );
    }
    for v in versions(ApiKey::LeaveGroup) {
        let (group, id) = members[v as usize].clone();
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(s(&group));
        if v < 3 {
            req.member_id = s(&id);
        } else {
            let mut m = leave_group_request::MemberIdentity::default();
            m.member_id = s(&id);
            req.members.push(m);
        }
        let resp: LeaveGroupResponse = call(&mut c, ApiKey::LeaveGroup, v, &req);
        assert_eq!(resp.error_code, 0);
        if v >= 3 {
            assert_eq!(resp.members[0].error_code, 0);
        }
    }
    // The groups are empty now: they and the group-less committers' offsets are deleted.
    for v in versions(ApiKey::DeleteGroups) {
        let (group, _) = member(v + 2);
        assert!(server.broker.committed_offset(&group, "grouped", 1).is_some());
        let simple = format!("simple-{}", 2 + v);
        assert_eq!(delete(&mut c, v, &[&group, &simple]), [0, 0]);
        assert_eq!(server.broker.committed_offset(&group, "grouped", 1), None);
        assert_eq!(server.broker.committed_offset(&simple, "grouped", 1), None);
        assert_eq!(delete(&mut c, v, &[&group]), [69], "deleted groups are gone");
        let resp: ListGroupsResponse = call(&mut c, ApiKey::ListGroups, 0, &ListGroupsRequest::default());
        assert!(!resp.groups.iter().any(|g| g.group_id.as_str() == group || g.group_id.as_str() == simple));
    }
}
