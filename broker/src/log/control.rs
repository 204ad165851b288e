//! Transaction markers: the control batches that end a transaction in each of its partitions.
//!
//! A marker is a RecordBatch v2 with the transactional and control attribute bits set, the
//! transaction's producer id and epoch, base sequence -1 and exactly one record (Kafka's
//! `EndTransactionMarker`):
//!
//! ```text
//! key   (4 bytes): version i16 = 0 | type i16 (0 = ABORT, 1 = COMMIT)
//! value (6 bytes): version i16 = 0 | coordinator epoch i32
//! ```
//!
//! Markers take an offset like any batch, are returned by Fetch (clients need them to pass the
//! transaction and to clear an aborted producer id) and are never delivered to applications.

use bytes::{Bytes, BytesMut};

use super::record_batch::{BatchHeader, NewRecord, RecordBatchBuilder};
use crate::error::{Error, Result};

/// How a transaction ended in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// `true` for COMMIT, `false` for ABORT.
    pub commit: bool,
    /// Epoch of the coordinator that decided the outcome.
    pub coordinator_epoch: i32,
}

const CONTROL_ABORT: i16 = 0;
const CONTROL_COMMIT: i16 = 1;

impl EndTxnMarker {
    /// Encodes the marker as a control batch of `producer_id`/`producer_epoch` (offset 0; the
    /// log assigns the real one).
    pub fn encode(&self, producer_id: i64, producer_epoch: i16, now_ms: i64) -> BytesMut {
        let kind = if self.commit { CONTROL_COMMIT } else { CONTROL_ABORT };
        let mut key = Vec::with_capacity(4);
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&kind.to_be_bytes());
        let mut value = Vec::with_capacity(6);
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        let mut builder =
            RecordBatchBuilder::new(now_ms).with_producer(producer_id, producer_epoch, -1).control();
        builder.push(&NewRecord::new(Some(key), Some(value)));
        builder.finish()
    }

    /// Reads the marker of a stored control batch. `Ok(None)` for control types that are not
    /// transaction markers (Kafka's KRaft-only types), which the log ignores.
    pub fn decode(header: &BatchHeader, batch: &Bytes) -> Result<Option<EndTxnMarker>> {
        let records = header.records(batch, 1 << 16)?;
        let Some(record) = records.first() else {
            return Err(Error::InvalidRecordBatch("control batch without a record".to_string()));
        };
        let key = record.key.as_deref().unwrap_or_default();
        if key.len() < 4 {
            return Err(Error::InvalidRecordBatch(format!("control record key of {} bytes", key.len())));
        }
        let kind = i16::from_be_bytes([key[2], key[3]]);
        let coordinator_epoch = match record.value.as_deref() {
            Some(v) if v.len() >= 6 => i32::from_be_bytes([v[2], v[3], v[4], v[5]]),
            _ => 0,
        };
        Ok(match kind {
            CONTROL_ABORT => Some(EndTxnMarker { commit: false, coordinator_epoch }),
            CONTROL_COMMIT => Some(EndTxnMarker { commit: true, coordinator_epoch }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_layout_matches_kafka() {
        let marker = EndTxnMarker { commit: true, coordinator_epoch: 7 };
        let batch = marker.encode(42, 3, 1000).freeze();
        let h = BatchHeader::parse(&batch).unwrap();
        h.verify_crc(&batch).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.records_count), (42, 3, -1, 1));
        let record = &h.records(&batch, 1 << 10).unwrap()[0];
        assert_eq!(record.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(record.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
        assert_eq!(EndTxnMarker::decode(&h, &batch).unwrap(), Some(marker));
        let abort = EndTxnMarker { commit: false, coordinator_epoch: 0 }.encode(1, 0, 0).freeze();
        let h = BatchHeader::parse(&abort).unwrap();
        assert_eq!(EndTxnMarker::decode(&h, &abort).unwrap().map(|m| m.commit), Some(false));
    }

    #[test]
    fn kafka_protocol_decoder_sees_a_control_batch() {
        let mut batch = EndTxnMarker { commit: false, coordinator_epoch: 0 }.encode(5, 1, 0).freeze();
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut batch).unwrap();
        assert!(set.records[0].control && set.records[0].transactional);
        assert_eq!(set.records[0].producer_id, 5);
    }
}
