//! ListOffsets (key 2): offsets by position or time.
//!
//! Timestamp -1 is the latest offset — the high watermark at read_uncommitted, the last stable
//! offset at read_committed (`isolation_level` 1, v2+) — -2 the log start, -3 the record with
//! the largest timestamp (v7+), and T ≥ 0 the first record whose timestamp is ≥ T (offset -1
//! if none).

use kafka_protocol::messages::ListOffsetsRequest;
use kafka_protocol::messages::ListOffsetsResponse;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};

use super::Connection;
use crate::log::OffsetSpec;

/// Looks up each requested partition's offset.
pub(crate) fn handle(conn: &Connection, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let broker = &conn.shared.broker;
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let mut topic = ListOffsetsTopicResponse::default();
        for p in t.partitions {
            let mut part = ListOffsetsPartitionResponse::default();
            part.partition_index = p.partition_index;
            part.timestamp = -1;
            part.offset = -1;
            part.leader_epoch = -1;
            let spec = match p.timestamp {
                -1 => Some(OffsetSpec::Latest),
                -2 => Some(OffsetSpec::Earliest),
                -3 => Some(OffsetSpec::MaxTimestamp),
                ts if ts >= 0 => Some(OffsetSpec::Timestamp(ts)),
                _ => None,
            };
            let committed = req.isolation_level == 1;
            match spec {
                None => part.error_code = 42, // INVALID_REQUEST: an unknown special timestamp.
                Some(OffsetSpec::Latest) if committed => {
                    match broker.partition(t.name.as_str(), p.partition_index) {
                        Ok(log) => part.offset = log.last_stable_offset(),
                        Err(e) => part.error_code = e.kafka_code(),
                    }
                }
                Some(spec) => match broker.list_offset(t.name.as_str(), p.partition_index, spec) {
                    Ok(Some((offset, timestamp))) => {
                        part.offset = offset;
                        part.timestamp = timestamp;
                    }
                    Ok(None) => {}
                    Err(e) => part.error_code = e.kafka_code(),
                },
            }
            topic.partitions.push(part);
        }
        topic.name = t.name;
        resp.topics.push(topic);
    }
    resp
}
