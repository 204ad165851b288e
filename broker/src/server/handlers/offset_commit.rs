//! OffsetCommit (key 8): stores consumer positions durably.
//!
//! The coordinator checks the member and generation (generation -1 with no member id is a
//! "simple" commit, accepted while the group has no members; a stale generation is
//! ILLEGAL_GENERATION, a commit while assignments are being handed out REBALANCE_IN_PROGRESS).
//! Offsets, leader epochs and metadata strings go to the durable group offset store, and the
//! response is sent once they are fsynced.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;

use super::Connection;
use crate::broker::Topic;
use crate::error::{Error, Result};
use crate::group::OffsetAndMetadata;
use crate::group::coordinator::MAX_OFFSET_METADATA;
use crate::util::now_ms;

/// Checks one partition's offset commit (the topic and partition exist, the metadata fits) and
/// builds the stored offset, or returns the partition's error code. Shared with TxnOffsetCommit.
pub(crate) fn checked_offset(
    topic: &Result<Arc<Topic>>,
    partition: i32,
    (offset, leader_epoch, metadata): (i64, i32, Option<&StrBytes>),
) -> std::result::Result<OffsetAndMetadata, i16> {
    let metadata = metadata.map(|m| m.as_str().to_string()).unwrap_or_default();
    match topic {
        Err(e) => Err(e.kafka_code()),
        Ok(topic) if partition < 0 || partition >= topic.partition_count() => Err(3),
        Ok(_) if metadata.len() > MAX_OFFSET_METADATA => {
            Err(Error::OffsetMetadataTooLarge { size: metadata.len(), max: MAX_OFFSET_METADATA }.kafka_code())
        }
        Ok(_) => Ok(OffsetAndMetadata { offset, leader_epoch, metadata, commit_timestamp: now_ms() }),
    }
}

/// Validates and commits.
pub(crate) async fn handle(conn: &Connection, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let broker = &conn.shared.broker;
    let group = req.group_id.as_str().to_string();
    let mut resp = OffsetCommitResponse::default();
    let mut accepted = Vec::new();
    // (topic index, partition index) of the entries in `accepted`.
    let mut positions = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let mut topic = OffsetCommitResponseTopic::default();
        topic.name = t.name.clone();
        let exists = broker.topic(t.name.as_str());
        for (pi, p) in t.partitions.iter().enumerate() {
            let mut part = OffsetCommitResponsePartition::default();
            part.partition_index = p.partition_index;
            let offset = (p.committed_offset, p.committed_leader_epoch, p.committed_metadata.as_ref());
            match checked_offset(&exists, p.partition_index, offset) {
                Ok(om) => {
                    accepted.push((t.name.as_str().to_string(), p.partition_index, om));
                    positions.push((ti, pi));
                }
                Err(code) => part.error_code = code,
            }
            topic.partitions.push(part);
        }
        resp.topics.push(topic);
    }
    let result = conn
        .shared
        .coordinator
        .commit_offsets(&group, req.generation_id_or_member_epoch, req.member_id.as_str(), accepted)
        .await;
    if let Err(e) = result {
        tracing::debug!(group = %group, error = %e, "offset commit rejected");
        let code = e.kafka_code();
        for (ti, pi) in positions {
            if let Some(p) = resp.topics.get_mut(ti).and_then(|t| t.partitions.get_mut(pi)) {
                p.error_code = code;
            }
        }
    }
    resp
}
