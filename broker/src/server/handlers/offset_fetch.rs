//! OffsetFetch (key 9): a group's committed offsets.
//!
//! A partition with no commit answers offset -1 with no error. A null topic list (v2+) returns
//! every committed partition of the group. Metadata strings come back exactly as committed.
//! Offsets committed inside a transaction that is still open are not returned; with
//! `require_stable` (v7) such a partition answers UNSTABLE_OFFSET_COMMIT (88) instead, so the
//! client retries until the transaction is decided.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{Connection, str_bytes};

/// Looks up the committed offsets.
pub(crate) fn handle(conn: &Connection, req: OffsetFetchRequest, _version: i16) -> OffsetFetchResponse {
    let topics = req
        .topics
        .map(|ts| ts.into_iter().map(|t| (t.name.as_str().to_string(), t.partition_indexes)).collect());
    let group = req.group_id.as_str();
    let rows = conn.shared.coordinator.fetch_offsets(group, topics);
    let store = conn.shared.broker.group_offsets();
    let mut resp = OffsetFetchResponse::default();
    for (topic, partition, committed) in rows {
        let mut part = OffsetFetchResponsePartition::default();
        part.partition_index = partition;
        if req.require_stable && store.has_pending(group, &topic, partition) {
            part.error_code = 88; // UNSTABLE_OFFSET_COMMIT
        }
        match committed {
            Some(o) => {
                part.committed_offset = o.offset;
                part.committed_leader_epoch = o.leader_epoch;
                part.metadata = Some(str_bytes(o.metadata));
            }
            None => {
                part.committed_offset = -1;
                part.committed_leader_epoch = -1;
                part.metadata = Some(str_bytes(""));
            }
        }
        match resp.topics.last_mut() {
            Some(t) if t.name.as_str() == topic => t.partitions.push(part),
            _ => {
                let mut t = OffsetFetchResponseTopic::default();
                t.name = TopicName(str_bytes(topic));
                t.partitions.push(part);
                resp.topics.push(t);
            }
        }
    }
    resp
}
