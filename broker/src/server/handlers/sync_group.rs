//! SyncGroup (key 14): the leader hands out assignments; followers wait for theirs.
//!
//! Assignments are opaque bytes. A member the leader left out gets empty bytes (never null).

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{Connection, str_bytes};

/// Synchronises and returns this member's assignment.
pub(crate) async fn handle(conn: &Connection, req: SyncGroupRequest) -> SyncGroupResponse {
    let assignments =
        req.assignments.into_iter().map(|a| (a.member_id.as_str().to_string(), a.assignment)).collect();
    let mut resp = SyncGroupResponse::default();
    let result = conn
        .shared
        .coordinator
        .sync(
            req.group_id.as_str(),
            req.generation_id,
            req.member_id.as_str(),
            req.protocol_type.as_ref().map(|s| s.as_str()),
            req.protocol_name.as_ref().map(|s| s.as_str()),
            assignments,
        )
        .await;
    match result {
        Ok(s) => {
            resp.protocol_type = s.protocol_type.map(str_bytes);
            resp.protocol_name = s.protocol_name.map(str_bytes);
            resp.assignment = s.assignment;
        }
        Err(e) => {
            tracing::debug!(group = %req.group_id.as_str(), error = %e, "sync failed");
            resp.error_code = e.kafka_code();
        }
    }
    resp
}
