//! DescribeGroups (key 15): state, protocol and members of groups. An unknown group is
//! reported in state `Dead` with no error, as Kafka does before v6.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{Connection, str_bytes};

/// Describes each requested group.
pub(crate) fn handle(conn: &Connection, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let d = conn.shared.coordinator.describe_group(id.as_str());
        let mut g = DescribedGroup::default();
        g.group_id = id;
        g.group_state = str_bytes(d.state.as_str());
        g.protocol_type = str_bytes(d.protocol_type);
        g.protocol_data = str_bytes(d.protocol);
        for m in d.members {
            let mut member = DescribedGroupMember::default();
            member.member_id = str_bytes(m.member_id);
            if version >= 4 {
                member.group_instance_id = m.group_instance_id.map(str_bytes);
            }
            member.client_id = str_bytes(m.client_id);
            member.client_host = str_bytes(m.client_host);
            member.member_metadata = m.metadata;
            member.member_assignment = m.assignment;
            g.members.push(member);
        }
        resp.groups.push(g);
    }
    resp
}
