//! LeaveGroup (key 13): members leave; the group rebalances without them at once.
//!
//! v0–2 carry one `member_id`; v3+ carry a `members[]` array (KIP-345), each answered with its
//! own error code, and members may be named by static instance id.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::Connection;

/// Removes the members.
pub(crate) fn handle(conn: &Connection, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let coordinator = &conn.shared.coordinator;
    let group = req.group_id.as_str();
    let mut resp = LeaveGroupResponse::default();
    if version < 3 {
        if let Err(e) = coordinator.leave(group, req.member_id.as_str(), None) {
            resp.error_code = e.kafka_code();
        }
        return resp;
    }
    for m in req.members {
        let mut r = MemberResponse::default();
        if let Err(e) =
            coordinator.leave(group, m.member_id.as_str(), m.group_instance_id.as_ref().map(|i| i.as_str()))
        {
            r.error_code = e.kafka_code();
        }
        r.member_id = m.member_id;
        r.group_instance_id = m.group_instance_id;
        resp.members.push(r);
    }
    resp
}
