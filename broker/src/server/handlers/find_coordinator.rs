//! FindCoordinator (key 10): this broker coordinates every group (key type 0) and every
//! transactional id (key type 1); the answer is always this node's advertised address.

use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{Connection, str_bytes};

/// Answers with this node.
pub(crate) fn handle(
    conn: &Connection,
    req: FindCoordinatorRequest,
    _version: i16,
) -> FindCoordinatorResponse {
    let shared = &conn.shared;
    let mut resp = FindCoordinatorResponse::default();
    if req.key_type != 0 && req.key_type != 1 {
        resp.error_code = 42;
        resp.error_message = Some(str_bytes(format!("unknown coordinator key type {}", req.key_type)));
        resp.node_id = BrokerId(-1);
        resp.port = -1;
        return resp;
    }
    resp.node_id = BrokerId(shared.broker.config().node_id);
    resp.host = str_bytes(shared.config.advertised_host.clone());
    resp.port = i32::from(shared.advertised_port);
    resp
}
