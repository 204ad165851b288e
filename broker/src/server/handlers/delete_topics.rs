//! DeleteTopics (key 20): deletes topics and their data. Internal topics (`__*`, `_brook_*`)
//! cannot be deleted by clients (INVALID_TOPIC_EXCEPTION), except `_brook_*` by Brook's own
//! writers.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::{Connection, Header, str_bytes};

/// Deletes each named topic.
pub(crate) fn handle(conn: &Connection, h: &Header, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let broker = &conn.shared.broker;
    let mut resp = DeleteTopicsResponse::default();
    for name in req.topic_names {
        let mut r = DeletableTopicResult::default();
        if let Err(e) =
            conn.check_may_write(h, name.as_str()).and_then(|_| broker.delete_topic(name.as_str()))
        {
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
