//! ListGroups (key 16): every group the coordinator knows, with its state (v4+ can filter by
//! state).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{Connection, str_bytes};

/// Lists the groups.
pub(crate) fn handle(conn: &Connection, req: ListGroupsRequest) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    for g in conn.shared.coordinator.list_groups() {
        let state = g.state.as_str();
        if !req.states_filter.is_empty()
            && !req.states_filter.iter().any(|s| s.as_str().eq_ignore_ascii_case(state))
        {
            continue;
        }
        let mut listed = ListedGroup::default();
        listed.group_id = GroupId(str_bytes(g.group_id));
        listed.protocol_type = str_bytes(g.protocol_type);
        listed.group_state = str_bytes(state);
        resp.groups.push(listed);
    }
    resp
}
