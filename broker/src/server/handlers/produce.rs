//! Produce (key 0): appends producers' record batches, byte for byte.
//!
//! Each partition's records must be exactly one RecordBatch v2 (Produce v3+). Before it may
//! reach the log it passes Kafka's produce validation ([`crate::log::validate`]): size as
//! sent and decompressed (`max.message.bytes`, else the broker's `message.max.bytes`), CRC,
//! offsets, record count, every record's lengths, timestamps — with Kafka's error codes. The
//! log then checks the idempotent-producer sequence (a retried batch is answered with its
//! original offset, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER), assigns offsets and stores it. The
//! batch's partition leader epoch is set to -1, matching Metadata. Internal topics are refused
//! (INVALID_TOPIC_EXCEPTION) unless the client is one of Brook's own writers.
//!
//! * `acks=0`: append, send no response at all.
//! * `acks=1`: answer once appended (in the page cache).
//! * `acks=-1` (all): answer once every appended batch is fsynced; the wait is queued as a
//!   deferred reply so later requests on the connection are appended meanwhile and share the
//!   fsync. Answers REQUEST_TIMED_OUT (7) if durability takes longer than the request timeout.
//!
//! A transactional batch is appended only if its producer is the current one of its
//! transactional id and the partition is part of its open transaction (checked and appended
//! under the transaction coordinator's lock); otherwise INVALID_PRODUCER_EPOCH (47) or
//! INVALID_TXN_STATE (48). Control batches are the coordinator's alone: a client's is refused.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

use super::{Connection, Header, Reply, str_bytes};
use crate::error::{Error, Result};
use crate::log::{AppendInfo, PartitionLog};

/// Appends every partition's batch and builds the reply for the request's `acks`.
pub(crate) fn handle(conn: &Connection, h: &Header, req: ProduceRequest) -> Result<Reply> {
    let broker = &conn.shared.broker;
    let acks = req.acks;
    let mut resp = ProduceResponse::default();
    let mut waits: Vec<(usize, usize, Arc<PartitionLog>, i64)> = Vec::new();
    for (ti, t) in req.topic_data.into_iter().enumerate() {
        let mut topic_resp = TopicProduceResponse::default();
        let topic = broker.topic(t.name.as_str());
        for (pi, p) in t.partition_data.into_iter().enumerate() {
            let mut part = PartitionProduceResponse::default();
            part.index = p.index;
            part.base_offset = -1;
            part.log_append_time_ms = -1;
            part.log_start_offset = -1;
            let appended = if !matches!(acks, -1..=1) {
                Err(Error::InvalidRequest(format!("acks must be 0, 1 or -1, not {acks}")))
            } else {
                append(conn, h, t.name.as_str(), &topic, p.index, p.records)
            };
            match appended {
                Ok((log, info)) => {
                    part.base_offset = info.base_offset;
                    part.log_append_time_ms = info.log_append_time;
                    part.log_start_offset = log.stats().log_start_offset;
                    if acks == -1 {
                        waits.push((ti, pi, log, info.last_offset + 1));
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %t.name.as_str(), partition = p.index, error = %e, "produce rejected");
                    part.error_code = match &e {
                        Error::InvalidRequest(_) if !matches!(acks, -1..=1) => 21, // INVALID_REQUIRED_ACKS
                        e => e.kafka_code(),
                    };
                    part.error_message = Some(str_bytes(e.to_string()));
                }
            }
            topic_resp.partition_responses.push(part);
        }
        topic_resp.name = t.name;
        resp.responses.push(topic_resp);
    }
    if acks == 0 {
        return Ok(Reply::None);
    }
    if waits.is_empty() {
        return Ok(Reply::Now(h.respond(&resp)?));
    }
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let (correlation_id, version) = (h.correlation_id, h.version);
    let header_version = h.api.response_header_version(version);
    Ok(Reply::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        for (ti, pi, log, end) in waits {
            let code = match tokio::time::timeout_at(deadline, log.wait_durable(end)).await {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => e.kafka_code(),
                Err(_) => Error::RequestTimedOut(timeout.as_millis() as i64).kafka_code(),
            };
            if code != 0
                && let Some(part) = resp.responses.get_mut(ti).and_then(|t| t.partition_responses.get_mut(pi))
            {
                part.error_code = code;
                part.base_offset = -1;
            }
        }
        super::encode_frame(correlation_id, header_version, version, &resp)
    })))
}

fn append(
    conn: &Connection,
    h: &Header,
    name: &str,
    topic: &Result<Arc<crate::broker::Topic>>,
    partition: i32,
    records: Option<bytes::Bytes>,
) -> Result<(Arc<PartitionLog>, AppendInfo)> {
    let broker = &conn.shared.broker;
    let topic = match topic {
        Ok(t) => t,
        Err(_) => return Err(Error::UnknownTopicOrPartition(name.to_string())),
    };
    conn.check_may_write(h, topic.name())?;
    let log = topic
        .partition(partition)
        .ok_or_else(|| Error::UnknownTopicOrPartition(format!("{}-{partition}", topic.name())))?;
    let records = records.filter(|r| !r.is_empty()).ok_or_else(|| {
        Error::InvalidRecordBatch(
            "the produce request carries no record batch for this partition".to_string(),
        )
    })?;
    let max_bytes = topic.max_message_bytes(broker.config().message_max_bytes);
    if records.len() > max_bytes {
        // Refuse before copying it.
        return Err(Error::MessageTooLarge { size: records.len(), max: max_bytes });
    }
    let mut batch = BytesMut::from(&records[..]);
    if batch.len() >= 16 {
        // partitionLeaderEpoch is outside the CRC; -1 matches the epoch Metadata reports.
        batch[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    }
    // Every record is checked (outside any lock) before the batch may reach the log.
    let header = log.validate_client_batch(&mut batch, max_bytes)?;
    let info = if header.is_transactional() {
        broker.transactions().append_transactional(
            header.producer_id,
            header.producer_epoch,
            topic.name(),
            partition,
            || log.append_limited(batch, Some(max_bytes)),
        )?
    } else {
        log.append_limited(batch, Some(max_bytes))?
    };
    Ok((log, info))
}
