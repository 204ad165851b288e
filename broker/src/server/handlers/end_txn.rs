//! EndTxn (key 26): commits or aborts the producer's open transaction.
//!
//! The reply comes once the decision is durable in `__transaction_state` and every partition
//! of the transaction (and the group offsets partition, if offsets were sent) has its marker,
//! so a read_committed consumer can read the outcome right away. A repeated commit (or abort)
//! of a transaction that already completed answers success; the other direction, or an EndTxn
//! with no open transaction, is INVALID_TXN_STATE. v5 (KIP-890's epoch bump on every EndTxn)
//! is not advertised.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::{Connection, txn_error_code};

/// Ends the transaction.
pub(crate) async fn handle(conn: &Connection, req: EndTxnRequest, version: i16) -> EndTxnResponse {
    let broker = &conn.shared.broker;
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    let result = broker
        .transactions()
        .end_txn(broker, req.transactional_id.as_str(), req.producer_id.0, req.producer_epoch, req.committed)
        .await;
    if let Err(e) = result {
        tracing::debug!(transactional_id = %req.transactional_id.as_str(), error = %e, "EndTxn refused");
        resp.error_code = txn_error_code(&e, version >= 2);
    }
    resp
}
