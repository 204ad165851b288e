//! Heartbeat (key 12): keeps a member alive; REBALANCE_IN_PROGRESS (27) tells it to rejoin,
//! UNKNOWN_MEMBER_ID (25) and ILLEGAL_GENERATION (22) that it fell out of the group.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::Connection;

/// Records the heartbeat.
pub(crate) fn handle(conn: &Connection, req: HeartbeatRequest) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    if let Err(e) =
        conn.shared.coordinator.heartbeat(req.group_id.as_str(), req.generation_id, req.member_id.as_str())
    {
        resp.error_code = e.kafka_code();
    }
    resp
}
