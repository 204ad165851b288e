//! Produce validation: what a record batch from a Kafka client must satisfy before it may reach
//! the log — the checks of Kafka's `LogValidator`, with the same error codes.
//!
//! ```text
//!  client batch ─► size ≤ max.message.bytes (as sent)            MESSAGE_TOO_LARGE (10)
//!              ─► one whole RecordBatch v2, CRC-32C               INVALID_RECORD (87) / CORRUPT_MESSAGE (2)
//!              ─► not a control batch; producer fields coherent   INVALID_RECORD (87)
//!              ─► lastOffsetDelta + 1 == recordsCount > 0         INVALID_RECORD (87)
//!              ─► records decompressed with the same limit,
//!                 checked while decompressing                      MESSAGE_TOO_LARGE (10)
//!              ─► every record: length fits, offset delta = its
//!                 index, no trailing bytes, key on compacted
//!                 topics                                           INVALID_RECORD (87)
//!              ─► CreateTime timestamps within
//!                 message.timestamp.{before,after}.max.ms of now   INVALID_TIMESTAMP (32)
//! ```
//!
//! Validation reads the batch without copying it (compressed batches are decompressed into a
//! bounded buffer) and does not allocate per record. The one thing it may correct rather than
//! reject is `maxTimestamp`, which Kafka also recomputes: a batch whose header disagrees with
//! its records gets the true maximum (and a new CRC), so time-based lookups and retention see
//! the right value.

use bytes::{Bytes, BytesMut};

use super::compression;
use super::config::{LogConfig, TimestampType};
use super::record_batch::{self, BATCH_HEADER_LEN, BatchHeader, Compression};
use crate::error::{Error, Result};

/// Checks a client's batch against the topic's configuration (see the module docs) and fixes
/// its `maxTimestamp` if needed. `max_bytes` bounds the batch as sent and its decompressed
/// records alike. Returns the parsed header.
pub fn validate_client_batch(
    batch: &mut BytesMut,
    config: &LogConfig,
    max_bytes: usize,
    now_ms: i64,
) -> Result<BatchHeader> {
    if batch.len() > max_bytes {
        return Err(Error::MessageTooLarge { size: batch.len(), max: max_bytes });
    }
    let header = BatchHeader::parse(batch)?;
    if header.size != batch.len() {
        return Err(Error::InvalidRecordBatch(format!(
            "a produce request carries exactly one record batch per partition: the first takes {} of {} bytes",
            header.size,
            batch.len()
        )));
    }
    header.verify_crc(batch)?;
    if header.is_control() {
        return Err(Error::InvalidRecordBatch(
            "control batches are written by the transaction coordinator, not by producers".to_string(),
        ));
    }
    check_producer_fields(&header)?;
    if header.records_count <= 0 {
        return Err(Error::InvalidRecordBatch("batch holds no records".to_string()));
    }
    if i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count) {
        return Err(Error::InvalidRecordBatch(format!(
            "inconsistent batch offset range: lastOffsetDelta {} but {} records",
            header.last_offset_delta, header.records_count
        )));
    }
    let body = &batch[BATCH_HEADER_LEN..header.size];
    let decompressed: Bytes;
    let data: &[u8] = match header.compression() {
        Compression::None => body,
        codec => {
            decompressed = compression::decompress(codec, body, max_bytes)?;
            &decompressed
        }
    };
    let check_time = config.timestamp_type == TimestampType::CreateTime;
    let compacted = config.cleanup_policy.compact;
    let mut max_timestamp = i64::MIN;
    let used = header.walk_records(data, |i, f| {
        if f.offset_delta as usize != i {
            return Err(Error::InvalidRecordBatch(format!(
                "record {i} has offset delta {}; deltas must count 0, 1, 2, …",
                f.offset_delta
            )));
        }
        if compacted && f.key.is_none() {
            return Err(Error::InvalidRecordBatch(
                "a compacted topic cannot accept a record without a key".to_string(),
            ));
        }
        let timestamp = header.base_timestamp.checked_add(f.timestamp_delta).ok_or_else(|| {
            Error::InvalidTimestamp(format!(
                "record {i}: base timestamp {} + delta {} overflows",
                header.base_timestamp, f.timestamp_delta
            ))
        })?;
        if check_time {
            check_timestamp(timestamp, config, now_ms)?;
        }
        max_timestamp = max_timestamp.max(timestamp);
        Ok(())
    })?;
    if used != data.len() {
        return Err(Error::InvalidRecordBatch(format!(
            "{} bytes follow the batch's {} records",
            data.len() - used,
            header.records_count
        )));
    }
    let mut header = header;
    if check_time && max_timestamp != header.max_timestamp {
        record_batch::set_max_timestamp(batch, header.size, max_timestamp);
        header.max_timestamp = max_timestamp;
    }
    Ok(header)
}

/// Transactional batches need a producer id; a producer id needs a sequence and an epoch.
fn check_producer_fields(h: &BatchHeader) -> Result<()> {
    if h.is_transactional() && h.producer_id < 0 {
        return Err(Error::InvalidRecordBatch("a transactional batch needs a producer id".to_string()));
    }
    if h.producer_id >= 0 && (h.base_sequence < 0 || h.producer_epoch < 0) {
        return Err(Error::InvalidRecordBatch(format!(
            "producer {} sent sequence {} at epoch {}; both must be ≥ 0",
            h.producer_id, h.base_sequence, h.producer_epoch
        )));
    }
    Ok(())
}

/// Kafka's `message.timestamp.before.max.ms` / `after.max.ms` window; -1 means "no timestamp".
fn check_timestamp(timestamp: i64, config: &LogConfig, now_ms: i64) -> Result<()> {
    if timestamp == -1 {
        return Ok(());
    }
    if timestamp < -1 {
        return Err(Error::InvalidTimestamp(format!("timestamp {timestamp} is negative")));
    }
    let earliest = now_ms.saturating_sub(config.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(config.timestamp_after_max_ms);
    if timestamp < earliest || timestamp > latest {
        return Err(Error::InvalidTimestamp(format!(
            "timestamp {timestamp} is outside [{earliest}, {latest}] \
             (message.timestamp.before.max.ms={}, message.timestamp.after.max.ms={})",
            config.timestamp_before_max_ms, config.timestamp_after_max_ms
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::TopicConfig;
    use crate::log::record_batch::{NewRecord, RecordBatchBuilder};

    const NOW: i64 = 1_700_000_000_000;

    fn batch(n: usize) -> BytesMut {
        let mut b = RecordBatchBuilder::new(NOW);
        for i in 0..n {
            b.push(&NewRecord::new(Some(format!("k{i}")), Some("v")).with_timestamp(NOW + i as i64));
        }
        b.finish()
    }

    fn code(mut b: BytesMut, config: &LogConfig) -> i16 {
        validate_client_batch(&mut b, config, 1 << 20, NOW).map_or_else(|e| e.kafka_code(), |_| 0)
    }

    fn recrc(b: &mut BytesMut) {
        let size = b.len();
        let crc = crc32c::crc32c(&b[21..size]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn a_well_formed_batch_passes() {
        assert_eq!(code(batch(3), &LogConfig::default()), 0);
    }

    #[test]
    fn malformed_batches_get_kafkas_error_codes() {
        let config = LogConfig::default();
        // Record count disagreeing with lastOffsetDelta.
        let mut b = batch(3);
        b[57..61].copy_from_slice(&2i32.to_be_bytes());
        recrc(&mut b);
        assert_eq!(code(b, &config), 87);
        // Count and delta agree but the records section holds more: trailing bytes.
        let mut b = batch(3);
        b[23..27].copy_from_slice(&1i32.to_be_bytes());
        b[57..61].copy_from_slice(&2i32.to_be_bytes());
        recrc(&mut b);
        assert_eq!(code(b, &config), 87);
        // A flipped byte: CORRUPT_MESSAGE.
        let mut b = batch(2);
        let n = b.len();
        b[n - 2] ^= 1;
        assert_eq!(code(b, &config), 2);
        // Two batches in one partition's records.
        let mut two = batch(1);
        two.extend_from_slice(&batch(1));
        assert_eq!(code(two, &config), 87);
        // Too large as sent.
        let mut b = batch(3);
        assert_eq!(validate_client_batch(&mut b, &config, 10, NOW).unwrap_err().kafka_code(), 10);
        // A transactional batch without a producer id.
        let mut b = batch(1);
        b[21..23].copy_from_slice(&0x10i16.to_be_bytes());
        recrc(&mut b);
        assert_eq!(code(b, &config), 87);
    }

    #[test]
    fn offset_deltas_must_count_from_zero() {
        // Encode two records with deltas 0 and 5 (a gap), as compaction would, but from a client.
        let records = [
            crate::log::Record { offset: 0, timestamp: NOW, key: None, value: None, headers: vec![] },
            crate::log::Record { offset: 5, timestamp: NOW, key: None, value: None, headers: vec![] },
        ];
        let original = BatchHeader::parse(&batch(2)).unwrap();
        let mut b = record_batch::rebuild_batch(
            &BatchHeader { last_offset_delta: 1, base_offset: 0, ..original },
            &records,
        );
        recrc(&mut b);
        assert_eq!(code(b, &LogConfig::default()), 87);
    }

    #[test]
    fn compacted_topics_need_keys() {
        let compact = TopicConfig::from_pairs([("cleanup.policy", "compact")]).unwrap().resolve().unwrap();
        let mut b = RecordBatchBuilder::new(NOW);
        b.push(&NewRecord::new(None::<&str>, Some("v")));
        assert_eq!(code(b.finish(), &compact), 87);
        assert_eq!(code(batch(2), &compact), 0);
    }

    #[test]
    fn timestamps_outside_the_window_are_invalid() {
        let config = TopicConfig::from_pairs([
            ("message.timestamp.before.max.ms", "1000"),
            ("message.timestamp.after.max.ms", "1000"),
        ])
        .unwrap()
        .resolve()
        .unwrap();
        let at = |ts: i64| {
            let mut b = RecordBatchBuilder::new(NOW);
            b.push(&NewRecord::new(Some("k"), Some("v")).with_timestamp(ts));
            code(b.finish(), &config)
        };
        assert_eq!(at(NOW), 0);
        assert_eq!(at(NOW - 5000), 32);
        assert_eq!(at(NOW + 5000), 32);
        assert_eq!(at(-7), 32);
        // A log-append-time topic ignores producer timestamps.
        let lat = TopicConfig::from_pairs([("message.timestamp.type", "LogAppendTime")]).unwrap();
        let mut b = RecordBatchBuilder::new(NOW);
        b.push(&NewRecord::new(Some("k"), Some("v")).with_timestamp(-7));
        assert_eq!(code(b.finish(), &lat.resolve().unwrap()), 0);
    }

    #[test]
    fn a_wrong_max_timestamp_is_corrected() {
        let mut b = batch(3);
        b[35..43].copy_from_slice(&5i64.to_be_bytes());
        recrc(&mut b);
        let h = validate_client_batch(&mut b, &LogConfig::default(), 1 << 20, NOW).unwrap();
        assert_eq!(h.max_timestamp, NOW + 2);
        let reparsed = BatchHeader::parse(&b).unwrap();
        reparsed.verify_crc(&b).unwrap();
        assert_eq!(reparsed.max_timestamp, NOW + 2);
    }
}
