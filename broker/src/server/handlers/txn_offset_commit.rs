//! TxnOffsetCommit (key 28): a consumer group's offsets, committed inside a transaction.
//!
//! The group coordinator checks the member and generation when the client sends them (v3+,
//! KIP-447: a zombie with a stale generation is refused), the transaction coordinator checks
//! the producer and that the group was added (AddOffsetsToTxn). The offsets are stored as a
//! transactional batch in `__consumer_offsets` and stay pending — invisible to OffsetFetch —
//! until the transaction's marker commits or drops them.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::offset_commit::checked_offset;
use super::{Connection, txn_error_code};

/// Stores the offsets as part of the transaction.
pub(crate) async fn handle(conn: &Connection, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let shared = &conn.shared;
    let broker = &shared.broker;
    let group = req.group_id.as_str();
    let mut offsets = Vec::new();
    let mut error = None;
    for t in &req.topics {
        let topic = broker.topic(t.name.as_str());
        for p in &t.partitions {
            let offset = (p.committed_offset, p.committed_leader_epoch, p.committed_metadata.as_ref());
            match checked_offset(&topic, p.partition_index, offset) {
                Ok(om) => offsets.push((t.name.as_str().to_string(), p.partition_index, om)),
                Err(code) => error = error.or(Some(code)),
            }
        }
    }
    let code = match error {
        Some(code) => code,
        None => {
            let member = req.member_id.as_str();
            let checked = if req.generation_id >= 0 || !member.is_empty() {
                shared.coordinator.validate_commit(group, req.generation_id, member)
            } else {
                Ok(())
            };
            let result = match checked {
                Ok(()) => {
                    broker
                        .transactions()
                        .commit_offsets(
                            broker,
                            req.transactional_id.as_str(),
                            req.producer_id.0,
                            req.producer_epoch,
                            group,
                            &offsets,
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => 0,
                Err(e) => {
                    tracing::debug!(group, error = %e, "TxnOffsetCommit refused");
                    // Kafka answers a stale epoch here with INVALID_PRODUCER_EPOCH at every version.
                    txn_error_code(&e, false)
                }
            }
        }
    };
    let mut resp = TxnOffsetCommitResponse::default();
    for t in req.topics {
        let mut topic = TxnOffsetCommitResponseTopic::default();
        for p in t.partitions {
            let mut part = TxnOffsetCommitResponsePartition::default();
            part.partition_index = p.partition_index;
            part.error_code = code;
            topic.partitions.push(part);
        }
        topic.name = t.name;
        resp.topics.push(topic);
    }
    resp
}
