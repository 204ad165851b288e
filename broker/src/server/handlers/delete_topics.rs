//! DeleteTopics (key 20): deletes topics and their data. The internal offsets topic cannot be
//! deleted (INVALID_TOPIC_EXCEPTION).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::{Connection, str_bytes};
use crate::group::OFFSETS_TOPIC;

/// Deletes each named topic.
pub(crate) fn handle(conn: &Connection, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let broker = &conn.shared.broker;
    let mut resp = DeleteTopicsResponse::default();
    for name in req.topic_names {
        let mut r = DeletableTopicResult::default();
        if name.as_str() == OFFSETS_TOPIC {
            r.error_code = 17;
            r.error_message = Some(str_bytes(format!("{OFFSETS_TOPIC} is internal and cannot be deleted")));
        } else if let Err(e) = broker.delete_topic(name.as_str()) {
            r.error_code = e.kafka_code();
            r.error_message = Some(str_bytes(e.to_string()));
        } else {
            tracing::info!(topic = %name.as_str(), "deleted topic");
        }
        r.name = Some(name);
        resp.responses.push(r);
    }
    resp
}
