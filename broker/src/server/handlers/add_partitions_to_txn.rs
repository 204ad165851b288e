//! AddPartitionsToTxn (key 24, v0–3): a transactional producer announces the partitions it is
//! about to write, before its first Produce to each.
//!
//! Unknown partitions fail with UNKNOWN_TOPIC_OR_PARTITION and the rest of the request with
//! OPERATION_NOT_ATTEMPTED (Kafka's all-or-nothing rule). Otherwise the coordinator adds them
//! to the transaction (opening it if needed) and the reply waits until that is durable.
//! v4+ (broker-to-coordinator batches of KIP-890) is not advertised.

use kafka_protocol::messages::AddPartitionsToTxnRequest;
use kafka_protocol::messages::AddPartitionsToTxnResponse;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};

use super::{Connection, txn_error_code};

/// OPERATION_NOT_ATTEMPTED: another partition of the request failed.
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// Adds the partitions to the transaction.
pub(crate) async fn handle(
    conn: &Connection,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let broker = &conn.shared.broker;
    let mut wanted = Vec::new();
    let mut unknown = Vec::new();
    for t in &req.v3_and_below_topics {
        for &p in &t.partitions {
            let tp = (t.name.as_str().to_string(), p);
            match broker.partition(&tp.0, p) {
                Ok(_) if !tp.0.starts_with("__") => wanted.push(tp),
                _ => unknown.push(tp),
            }
        }
    }
    let outcome = if !unknown.is_empty() {
        Err(OPERATION_NOT_ATTEMPTED)
    } else {
        broker
            .transactions()
            .add_partitions(
                req.v3_and_below_transactional_id.as_str(),
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                &wanted,
            )
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "AddPartitionsToTxn refused");
                txn_error_code(&e, version >= 2)
            })
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    for t in req.v3_and_below_topics {
        let mut topic = AddPartitionsToTxnTopicResult::default();
        for p in t.partitions {
            let mut part = AddPartitionsToTxnPartitionResult::default();
            part.partition_index = p;
            part.partition_error_code = match outcome {
                Ok(()) => 0,
                Err(_) if unknown.iter().any(|(n, q)| n == t.name.as_str() && *q == p) => 3,
                Err(code) => code,
            };
            topic.results_by_partition.push(part);
        }
        topic.name = t.name;
        resp.results_by_topic_v3_and_below.push(topic);
    }
    resp
}
