//! CreatePartitions (key 37): grows topics to a new partition count (never shrinks them);
//! `validate_only` checks without changing anything.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{Connection, Header, str_bytes};
use crate::error::Error;

/// Adds partitions to each topic.
pub(crate) fn handle(
    conn: &Connection,
    h: &Header,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = &conn.shared.broker;
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let mut r = CreatePartitionsTopicResult::default();
        let outcome = conn.check_may_write(h, t.name.as_str()).and_then(|_| broker.topic(t.name.as_str())).and_then(|topic| {
            let current = topic.partition_count();
            if t.count <= current || t.count > 100_000 {
                return Err(Error::InvalidPartitions(format!(
                    "topic {} has {current} partitions; the new count must be larger (and at most 100000), not {}",
                    t.name.as_str(),
                    t.count
                )));
            }
            if let Some(a) = &t.assignments
                && a.len() as i32 != t.count - current {
                    return Err(Error::InvalidRequest(format!(
                        "{} replica assignments given for {} new partitions",
                        a.len(),
                        t.count - current
                    )));
                }
            if req.validate_only { Ok(()) } else { broker.create_partitions(t.name.as_str(), t.count) }
        });
        if let Err(e) = outcome {
            r.error_code = e.kafka_code();
            r.error_message = Some(str_bytes(e.to_string()));
        }
        r.name = t.name;
        resp.results.push(r);
    }
    resp
}
