//! InitProducerId (key 22): hands producers a producer id and epoch.
//!
//! Without a transactional id (idempotent producers) ids come from
//! [`Broker::allocate_producer_id`](crate::Broker::allocate_producer_id) and are unique across
//! restarts; a producer that sends its current id and epoch (v3+, after a fatal sequence error)
//! gets the same id with the next epoch, which restarts its sequence numbers.
//!
//! With a transactional id the [transaction coordinator](crate::txn::TransactionCoordinator)
//! answers: a new id gets a fresh producer id at epoch 0; a known one gets its epoch bumped,
//! which fences older producers of the id and aborts a transaction they left open. A fenced
//! caller gets PRODUCER_FENCED (v4+) or INVALID_PRODUCER_EPOCH (older versions).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Connection, txn_error_code};

/// Allocates or bumps a producer id.
pub(crate) async fn handle(
    conn: &Connection,
    req: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    resp.ongoing_txn_producer_id = ProducerId(-1);
    resp.ongoing_txn_producer_epoch = -1;
    let broker = &conn.shared.broker;
    if let Some(id) = &req.transactional_id {
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        match broker
            .transactions()
            .init_producer_id(broker, id.as_str(), req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Err(e) => {
                tracing::debug!(transactional_id = %id.as_str(), error = %e, "InitProducerId refused");
                resp.error_code = txn_error_code(&e, version >= 4);
            }
        }
        return resp;
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        resp.producer_id = req.producer_id;
        resp.producer_epoch = req.producer_epoch + 1;
        return resp;
    }
    match broker.allocate_producer_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::warn!(error = %e, "allocating a producer id failed");
            resp.error_code = 15; // COORDINATOR_NOT_AVAILABLE: retriable.
        }
    }
    resp
}
