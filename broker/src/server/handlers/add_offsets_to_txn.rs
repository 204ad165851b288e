//! AddOffsetsToTxn (key 25): a transactional producer will commit a consumer group's offsets
//! in its transaction (`send_offsets_to_transaction`): the group's `__consumer_offsets`
//! partition joins the transaction, so its marker settles the offsets.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::{Connection, txn_error_code};

/// Adds the group's offsets partition to the transaction.
pub(crate) async fn handle(
    conn: &Connection,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let broker = &conn.shared.broker;
    let mut resp = AddOffsetsToTxnResponse::default();
    let result = broker
        .transactions()
        .add_offsets(
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            req.group_id.as_str(),
        )
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "AddOffsetsToTxn refused");
        resp.error_code = txn_error_code(&e, version >= 2);
    }
    resp
}
