//! Idempotent and transactional producer bookkeeping for one partition.
//!
//! Kafka clients with `enable.idempotence` number their batches per partition. For each producer
//! id the log remembers its epoch and its last few batches, so that a retried batch is
//! recognised and answered with its original offset instead of being written twice, and a batch
//! that skips sequence numbers is rejected.
//!
//! Transactional producers add one more fact per producer: the offset of the first batch of its
//! open transaction in this partition. The smallest such offset is the partition's first
//! unstable offset, which bounds the last stable offset (LSO) that read_committed consumers read
//! up to. A commit or abort marker closes the producer's transaction (see
//! [`ProducerStates::complete_txn`]).
//!
//! The state is snapshotted (with the offset it reflects) each time the flusher makes the log
//! durable and on clean shutdown; after a crash it is rebuilt from the newest snapshot plus a
//! replay of the batch headers and markers after the snapshot's offset.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// First offset of the producer's open transaction in this partition.
    #[serde(default)]
    txn_first_offset: Option<i64>,
    /// Epoch of the coordinator that wrote the producer's last marker.
    #[serde(default)]
    coordinator_epoch: i32,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry { epoch, recent: VecDeque::new(), txn_first_offset: None, coordinator_epoch: 0 }
    }
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
    /// Open transactions: first offset → producer id (derived from `producers`).
    #[serde(skip)]
    ongoing: BTreeMap<i64, i64>,
}

/// A producer-state snapshot and the log offset it reflects (`None` in snapshots written
/// before offsets were recorded; those are valid only after a clean shutdown).
#[derive(Serialize, Deserialize)]
struct Snapshot {
    #[serde(default)]
    offset: Option<i64>,
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks a batch against the producer's history before it is appended.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck> {
        if h.producer_id < 0 {
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
        if !h.is_transactional() && entry.txn_first_offset.is_some() {
            return Err(Error::InvalidTxnState(format!(
                "producer {} has a transaction open in this partition; it cannot write outside it",
                h.producer_id
            )));
        }
        if h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
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

    /// Records a data batch that was appended at `base_offset`; a transactional batch opens
    /// its producer's transaction here if none is open.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let entry =
            self.producers.entry(h.producer_id).or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.recent.clear();
        }
        if h.base_sequence >= 0 {
            entry.recent.push_back(BatchMeta {
                first_seq: h.base_sequence,
                last_seq: last_sequence(h),
                base_offset,
            });
            while entry.recent.len() > RECENT_BATCHES {
                entry.recent.pop_front();
            }
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(base_offset);
            self.ongoing.insert(base_offset, h.producer_id);
        }
    }

    /// Checks that a marker from `producer_id` at `epoch` may be written (Kafka rejects
    /// markers older than the producer's epoch).
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<()> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => {
                Err(Error::ProducerFenced { producer_id, current: entry.epoch, got: epoch })
            }
            _ => Ok(()),
        }
    }

    /// Closes the producer's transaction with a marker written by `epoch`. Returns the first
    /// offset of the transaction in this partition, or `None` if it wrote nothing here.
    pub fn complete_txn(&mut self, producer_id: i64, epoch: i16, coordinator_epoch: i32) -> Option<i64> {
        let entry = self.producers.entry(producer_id).or_insert_with(|| ProducerEntry::new(epoch));
        if epoch > entry.epoch {
            // A fencing abort bumped the epoch: the next batches start a new sequence.
            entry.epoch = epoch;
            entry.recent.clear();
        }
        entry.coordinator_epoch = entry.coordinator_epoch.max(coordinator_epoch);
        let first = entry.txn_first_offset.take()?;
        self.ongoing.remove(&first);
        Some(first)
    }

    /// The first offset of the oldest open transaction, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Open transactions in this partition: `(producer id, first offset)`.
    pub fn open_transactions(&self) -> Vec<(i64, i64)> {
        self.ongoing.iter().map(|(&first, &pid)| (pid, first)).collect()
    }

    /// Writes a snapshot reflecting the log below `offset` (atomically: temp file + rename).
    pub fn save(&self, path: &Path, offset: i64) -> Result<()> {
        #[derive(Serialize)]
        struct SnapshotRef<'a> {
            offset: Option<i64>,
            producers: &'a HashMap<i64, ProducerEntry>,
        }
        let json = serde_json::to_vec(&SnapshotRef { offset: Some(offset), producers: &self.producers })
            .map_err(|e| Error::Io { context: "encoding producer state".into(), source: e.into() })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json).map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(Error::io(format!("renaming {}", tmp.display())))
    }

    /// Reads a snapshot: the states and the offset they reflect. `None` when the snapshot is
    /// missing or unreadable.
    pub fn load(path: &Path) -> Option<(ProducerStates, Option<i64>)> {
        let data = std::fs::read(path).ok()?;
        let snapshot: Snapshot = serde_json::from_slice(&data).ok()?;
        let ongoing = snapshot
            .producers
            .iter()
            .filter_map(|(&pid, e)| e.txn_first_offset.map(|first| (first, pid)))
            .collect();
        Some((ProducerStates { producers: snapshot.producers, ongoing }, snapshot.offset))
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

    fn txn_batch(pid: i64, epoch: i16, seq: i32) -> BatchHeader {
        let mut b = RecordBatchBuilder::new(0).with_producer(pid, epoch, seq).transactional();
        b.push(&NewRecord::new(None::<&str>, Some("v")));
        BatchHeader::parse(&b.finish()).unwrap()
    }

    #[test]
    fn transactions_open_at_their_first_batch_and_close_at_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStates::default();
        s.record(&txn_batch(1, 0, 0), 10);
        s.record(&txn_batch(1, 0, 1), 11);
        s.record(&txn_batch(2, 0, 0), 12);
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert_eq!(s.open_transactions(), vec![(1, 10), (2, 12)]);
        // Outside its open transaction a producer may not write.
        assert!(matches!(s.check(&batch(1, 0, 2, 1)), Err(Error::InvalidTxnState(_))));
        s.save(&dir.path().join("snap"), 13).unwrap();
        assert_eq!(s.complete_txn(1, 0, 0), Some(10));
        assert_eq!(s.first_unstable_offset(), Some(12));
        // A second marker (a coordinator retry) closes nothing.
        assert_eq!(s.complete_txn(1, 0, 0), None);
        // A fencing abort with a bumped epoch rejects the old epoch afterwards.
        assert_eq!(s.complete_txn(2, 1, 0), Some(12));
        assert_eq!(s.first_unstable_offset(), None);
        assert!(matches!(s.check(&txn_batch(2, 0, 1)), Err(Error::ProducerFenced { .. })));
        assert!(s.check_marker(2, 0).is_err() && s.check_marker(2, 1).is_ok());
        let (loaded, offset) = ProducerStates::load(&dir.path().join("snap")).unwrap();
        assert_eq!(offset, Some(13));
        assert_eq!(loaded.open_transactions(), vec![(1, 10), (2, 12)]);
    }
}
