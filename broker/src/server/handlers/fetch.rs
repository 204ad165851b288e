//! Fetch (key 1): whole stored record batches, with long polling.
//!
//! For each partition the log returns the batches starting with the one that *contains* the
//! fetch offset (clients drop the records below it), as stored — never re-encoded. Limits
//! follow KIP-74: `partition_max_bytes` and the request's `max_bytes` are soft for the first
//! batch of the first partition with data (it is always returned whole, so a consumer can
//! always make progress) and hard for everything after it. The broker's `fetch.max.bytes`
//! caps the request's `max_bytes`.
//!
//! If less than `min_bytes` is available, the request waits — as a deferred reply, so the
//! connection keeps reading — until new data is appended to any requested partition or
//! `max_wait_ms` passes, then answers with whatever is there. `log_start_offset` is filled in,
//! and an offset outside `[log start, high watermark]` is OFFSET_OUT_OF_RANGE so
//! `auto.offset.reset` works. Fetch sessions (v7+) are not kept: `session_id` is always 0, so
//! clients send full fetches.
//!
//! Isolation (v4+): every answer carries the partition's last stable offset. At
//! `read_committed` (isolation level 1) only batches below it are returned — control batches
//! included, as clients need the markers — with the aborted transactions among them
//! (`aborted_transactions`), whose records the client drops. At `read_uncommitted` everything
//! up to the high watermark is returned and `aborted_transactions` is null.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use tokio::sync::watch;

use super::{Connection, Header, Reply};
use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::log::{Isolation, PartitionLog};

struct Wanted {
    topic: TopicName,
    partition: i32,
    log: Result<Arc<PartitionLog>>,
    offset: i64,
    max_bytes: usize,
}

/// Reads what is available now; if that is less than `min_bytes`, returns a deferred reply that
/// waits for more.
pub(crate) fn handle(conn: &Connection, h: &Header, req: FetchRequest) -> Result<Reply> {
    let broker = conn.shared.broker.clone();
    let mut wanted = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            wanted.push(Wanted {
                topic: t.topic.clone(),
                partition: p.partition,
                log: resolve(&broker, t.topic.as_str(), p.partition),
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    // fetch.max.bytes caps every response, whatever the client asks for.
    let cap = conn.shared.config.fetch_max_bytes.max(1);
    let max_bytes = if req.max_bytes <= 0 { cap } else { (req.max_bytes as usize).min(cap) };
    let min_bytes = req.min_bytes.max(0) as usize;
    // Subscribe before reading, so an append between the read and the wait is not missed.
    let mut receivers: Vec<watch::Receiver<i64>> =
        wanted.iter().filter_map(|w| w.log.as_ref().ok().map(|l| l.subscribe_end_offset())).collect();
    let isolation =
        if req.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    let (first, bytes, errors) = collect(&wanted, max_bytes, isolation);
    if bytes >= min_bytes.max(1) || errors || req.max_wait_ms <= 0 {
        return Ok(Reply::Now(h.respond(&first)?));
    }
    drop(first);
    let wait = Duration::from_millis(req.max_wait_ms as u64);
    let (correlation_id, version) = (h.correlation_id, h.version);
    let header_version = h.api.response_header_version(version);
    Ok(Reply::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + wait;
        let resp = loop {
            if !wait_for_change(&mut receivers, deadline).await {
                // Timed out: answer with what is there now.
                break collect(&wanted, max_bytes, isolation).0;
            }
            let (now, bytes, errors) = collect(&wanted, max_bytes, isolation);
            if bytes >= min_bytes.max(1) || errors {
                break now;
            }
        };
        super::encode_frame(correlation_id, header_version, version, &resp)
    })))
}

fn resolve(broker: &Broker, topic: &str, partition: i32) -> Result<Arc<PartitionLog>> {
    broker.partition(topic, partition)
}

/// Waits until any receiver sees a new log end offset. Returns false at the deadline.
async fn wait_for_change(receivers: &mut [watch::Receiver<i64>], deadline: tokio::time::Instant) -> bool {
    if receivers.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return false;
    }
    let changes = futures::future::select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
    match tokio::time::timeout_at(deadline, changes).await {
        Ok((Ok(()), _, _)) => true,
        // The partition was deleted (its sender dropped): answer now.
        Ok((Err(_), _, _)) => true,
        Err(_) => false,
    }
}

/// Builds the response from the logs' current contents: (response, record bytes, any errors).
fn collect(wanted: &[Wanted], max_bytes: usize, isolation: Isolation) -> (FetchResponse, usize, bool) {
    let mut resp = FetchResponse::default();
    let mut total = 0usize;
    let mut errors = false;
    for w in wanted {
        let mut part = PartitionData::default();
        part.partition_index = w.partition;
        part.high_watermark = -1;
        part.last_stable_offset = -1;
        part.log_start_offset = -1;
        part.records = Some(bytes::Bytes::new());
        match &w.log {
            Err(e) => {
                part.error_code = e.kafka_code();
                errors = true;
            }
            Ok(log) => {
                let remaining = max_bytes.saturating_sub(total);
                let limit = w.max_bytes.min(remaining);
                let result = if limit == 0 && total > 0 {
                    // Out of room: report positions only.
                    log.fetch_isolated(w.offset, 0, isolation).map(|mut d| {
                        d.batches = bytes::Bytes::new();
                        d.aborted = d.aborted.map(|_| Vec::new());
                        d
                    })
                } else {
                    log.fetch_isolated(w.offset, limit.max(1), isolation)
                };
                match result {
                    Ok(mut data) => {
                        // Past the first batch returned, limits are hard.
                        if total > 0 && data.batches.len() > limit {
                            data.batches = bytes::Bytes::new();
                            data.aborted = data.aborted.map(|_| Vec::new());
                        }
                        part.high_watermark = data.high_watermark;
                        part.last_stable_offset = data.last_stable_offset;
                        part.log_start_offset = data.log_start_offset;
                        part.aborted_transactions = data.aborted.map(|list| {
                            list.into_iter()
                                .map(|(pid, first)| {
                                    let mut a = AbortedTransaction::default();
                                    a.producer_id = ProducerId(pid);
                                    a.first_offset = first;
                                    a
                                })
                                .collect()
                        });
                        total += data.batches.len();
                        part.records = Some(data.batches);
                    }
                    Err(e) => {
                        if let Error::OffsetOutOfRange { log_start, log_end, .. } = &e {
                            part.high_watermark = *log_end;
                            part.last_stable_offset = log.last_stable_offset();
                            part.log_start_offset = *log_start;
                        }
                        part.error_code = e.kafka_code();
                        errors = true;
                    }
                }
            }
        }
        match resp.responses.last_mut() {
            Some(t) if t.topic == w.topic => t.partitions.push(part),
            _ => {
                let mut t = FetchableTopicResponse::default();
                t.topic = w.topic.clone();
                t.partitions.push(part);
                resp.responses.push(t);
            }
        }
    }
    (resp, total, errors)
}
