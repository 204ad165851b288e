//! JoinGroup (key 11): joins a consumer group; answered when the rebalance completes.
//!
//! The coordinator ([`GroupCoordinator::join`](crate::group::GroupCoordinator::join)) parks the
//! request until every member has rejoined or the rebalance timeout passes. The leader gets
//! every member's metadata for the chosen protocol; followers get an empty member list. The
//! optional MEMBER_ID_REQUIRED handshake (v4+) is not used: new members get their id directly.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{Connection, Header, str_bytes};
use crate::group::coordinator::JoinRequest;

/// Joins and waits for the rebalance.
pub(crate) async fn handle(conn: &Connection, h: &Header, req: JoinGroupRequest) -> JoinGroupResponse {
    let join = JoinRequest {
        group_id: req.group_id.as_str().to_string(),
        member_id: req.member_id.as_str().to_string(),
        group_instance_id: req.group_instance_id.map(|i| i.as_str().to_string()),
        client_id: h.client_id.clone(),
        client_host: conn.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if h.version >= 1 { req.rebalance_timeout_ms } else { -1 },
        protocol_type: req.protocol_type.as_str().to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.as_str().to_string(), p.metadata)).collect(),
    };
    let mut resp = JoinGroupResponse::default();
    match conn.shared.coordinator.join(join).await {
        Ok(j) => {
            resp.generation_id = j.generation_id;
            if h.version >= 7 {
                resp.protocol_type = j.protocol_type.map(str_bytes);
            }
            resp.protocol_name = Some(str_bytes(j.protocol_name.unwrap_or_default()));
            resp.leader = str_bytes(j.leader);
            resp.member_id = str_bytes(j.member_id);
            for m in j.members {
                let mut member = JoinGroupResponseMember::default();
                member.member_id = str_bytes(m.member_id);
                if h.version >= 5 {
                    member.group_instance_id = m.group_instance_id.map(str_bytes);
                }
                member.metadata = m.metadata;
                resp.members.push(member);
            }
        }
        Err(e) => {
            tracing::debug!(group = %req.group_id.as_str(), error = %e, "join failed");
            resp.error_code = e.kafka_code();
            resp.generation_id = -1;
            resp.member_id = req.member_id;
        }
    }
    resp
}
