//! DeleteRecords (key 21): moves partitions' log start offsets forward. Offset -1 means the
//! high watermark; the answer is the new low watermark.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{Connection, Header};

/// Deletes records before the given offsets.
pub(crate) fn handle(conn: &Connection, h: &Header, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let broker = &conn.shared.broker;
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut topic = DeleteRecordsTopicResult::default();
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            match conn
                .check_may_write(h, t.name.as_str())
                .and_then(|_| broker.partition(t.name.as_str(), p.partition_index))
                .and_then(|log| log.delete_records_before(p.offset))
            {
                Ok(start) => r.low_watermark = start,
                Err(e) => r.error_code = e.kafka_code(),
            }
            topic.partitions.push(r);
        }
        topic.name = t.name;
        resp.topics.push(topic);
    }
    resp
}
