//! DeleteGroups (key 42): deletes consumer groups and their committed offsets, as
//! `kafka-consumer-groups --delete` does. Each group gets its own error code: GROUP_ID_NOT_FOUND
//! (69) for a group the broker does not know, NON_EMPTY_GROUP (68) while it has members,
//! INVALID_GROUP_ID (24) for an empty id.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::Connection;

/// Deletes each named group; answers once the removal of their offsets is durable.
pub(crate) async fn handle(conn: &Connection, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for group_id in req.groups_names {
        let mut r = DeletableGroupResult::default();
        match conn.shared.broker.delete_group(group_id.as_str()).await {
            Ok(()) => tracing::info!(group = %group_id.as_str(), "deleted consumer group"),
            Err(e) => r.error_code = e.kafka_code(),
        }
        r.group_id = group_id;
        resp.results.push(r);
    }
    resp
}
