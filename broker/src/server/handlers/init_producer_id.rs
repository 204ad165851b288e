//! InitProducerId (key 22): hands idempotent producers a producer id and epoch.
//!
//! Ids come from [`Broker::allocate_producer_id`](crate::Broker::allocate_producer_id) and are
//! unique across restarts. A producer that sends its current id and epoch (v3+, after a fatal
//! sequence error) gets the same id with the next epoch, which restarts its sequence numbers.
//! Transactional ids are refused: transactions are not implemented.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Connection;

/// Allocates or bumps a producer id.
pub(crate) fn handle(conn: &Connection, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    if req.transactional_id.is_some() {
        // TRANSACTIONAL_ID_AUTHORIZATION_FAILED: the client reports that transactions are unavailable.
        resp.error_code = 53;
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
        return resp;
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        resp.producer_id = req.producer_id;
        resp.producer_epoch = req.producer_epoch + 1;
        return resp;
    }
    match conn.shared.broker.allocate_producer_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::warn!(error = %e, "allocating a producer id failed");
            resp.error_code = 15; // COORDINATOR_NOT_AVAILABLE: retriable.
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
        }
    }
    resp
}
