//! Idempotent-producer bookkeeping for one partition.
//!
//! Kafka clients with `enable.idempotence` number their batches per partition. For each producer
//! id the log remembers its epoch and its last few batches, so that a retried batch is
//! recognised and answered with its original offset instead of being written twice, and a batch
//! that skips sequence numbers is rejected. The state is rebuilt from the log's batch headers on
//! recovery and snapshotted on clean shutdown.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::record_batch::BatchHeader;
use crate::error::{Error, Result};

/// How many recent batches per producer are kept for duplicate detection (Kafka keeps 5, the
/// maximum number of in-flight requests an idempotent producer may have).
const RECENT_BATCHES: usize = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProducerEntry {
    epoch: i16,
    recent: VecDeque<BatchMeta>,
}

/// What the log should do with an incoming batch.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// It was already appended at this base offset; answer with that and write nothing.
    Duplicate(i64),
}

/// Per-partition producer state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks a batch against the producer's history before it is appended.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(Error::ProducerFenced {
                producer_id: h.producer_id,
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            // A new epoch restarts the sequence.
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(Error::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        let last_seq = last_sequence(h);
        if let Some(dup) =
            entry.recent.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(dup.base_offset));
        }
        let expected = entry.recent.back().map_or(0, |b| next_sequence(b.last_seq));
        if h.base_sequence != expected {
            return Err(Error::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected,
                got: h.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that was appended at `base_offset`.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry { epoch: h.producer_epoch, recent: VecDeque::new() });
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.recent.clear();
        }
        entry.recent.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_sequence(h),
            base_offset,
        });
        while entry.recent.len() > RECENT_BATCHES {
            entry.recent.pop_front();
        }
    }

    /// Writes a snapshot (used on clean shutdown).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::Io { context: "encoding producer state".into(), source: e.into() })?;
        std::fs::write(path, json).map_err(Error::io(format!("writing {}", path.display())))
    }

    /// Reads a snapshot; a missing or unreadable snapshot yields empty state.
    pub fn load(path: &Path) -> ProducerStates {
        std::fs::read(path).ok().and_then(|data| serde_json::from_slice(&data).ok()).unwrap_or_default()
    }
}

fn last_sequence(h: &BatchHeader) -> i32 {
    // Sequences wrap from i32::MAX to 0.
    ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::{NewRecord, RecordBatchBuilder};

    fn batch(pid: i64, epoch: i16, seq: i32, n: usize) -> BatchHeader {
        let mut b = RecordBatchBuilder::new(0).with_producer(pid, epoch, seq);
        for _ in 0..n {
            b.push(&NewRecord::new(None::<&str>, Some("v")));
        }
        BatchHeader::parse(&b.finish()).unwrap()
    }

    #[test]
    fn duplicates_are_detected_and_gaps_rejected() {
        let mut s = ProducerStates::default();
        let b0 = batch(7, 0, 0, 3);
        assert_eq!(s.check(&b0).unwrap(), SequenceCheck::Append);
        s.record(&b0, 100);
        assert_eq!(s.check(&b0).unwrap(), SequenceCheck::Duplicate(100));
        let b1 = batch(7, 0, 3, 2);
        assert_eq!(s.check(&b1).unwrap(), SequenceCheck::Append);
        s.record(&b1, 103);
        assert!(matches!(
            s.check(&batch(7, 0, 9, 1)),
            Err(Error::OutOfOrderSequence { expected: 5, got: 9, .. })
        ));
        assert!(matches!(s.check(&batch(7, -1, 5, 1)), Err(Error::ProducerFenced { .. })));
        assert_eq!(s.check(&batch(7, 1, 0, 1)).unwrap(), SequenceCheck::Append);
        assert_eq!(s.check(&batch(8, 0, 0, 1)).unwrap(), SequenceCheck::Append);
    }
}
