//! The aborted-transaction index of one partition: which offset ranges read_committed consumers
//! must drop.
//!
//! Each ABORT marker that closes a transaction which wrote data adds one entry, in Kafka's
//! 34-byte `.txnindex` layout:
//!
//! ```text
//! version i16 = 0 | producerId i64 | firstOffset i64 | lastOffset i64 (the marker) | lastStableOffset i64
//! ```
//!
//! Brook keeps one file per partition (`aborted.txnindex`) rather than one per segment, and all
//! entries in memory, sorted by marker offset. Entries are appended when the marker is appended
//! and fsynced with the log by the flusher; after a crash, entries at or past the producer
//! snapshot's offset are dropped and rebuilt by replaying the log from there, so the file never
//! holds an entry for a marker that was lost.
//!
//! A read_committed fetch from offset F that returns data up to U gets every entry with
//! `lastOffset ≥ F` and `firstOffset < U`; the scan stops at the first entry whose
//! `lastStableOffset ≥ U` (no transaction aborted later can have started below U).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Size of one entry on disk.
const ENTRY_LEN: usize = 34;

/// One aborted transaction in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// Offset of its first batch in this partition.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset right after the marker.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(b: &[u8]) -> AbortedTxn {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        }
    }
}

/// The aborted transactions of a partition, in memory and in `aborted.txnindex`.
#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    file: File,
    entries: Vec<AbortedTxn>,
    dirty: bool,
}

impl TxnIndex {
    /// Opens (or creates) the index in a partition directory, ignoring a torn last entry.
    pub fn open(dir: &Path) -> Result<TxnIndex> {
        let path = dir.join("aborted.txnindex");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        let data = std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
        let mut entries: Vec<AbortedTxn> = data.chunks_exact(ENTRY_LEN).map(AbortedTxn::decode).collect();
        // Entries are written in marker order; anything out of order is damage.
        if let Some(bad) = entries.windows(2).position(|w| w[1].last_offset <= w[0].last_offset) {
            entries.truncate(bad + 1);
        }
        let mut index = TxnIndex { path, file, entries, dirty: false };
        if data.len() != index.entries.len() * ENTRY_LEN {
            index.rewrite()?;
        }
        Ok(index)
    }

    /// Adds the entry for an ABORT marker just appended (it must be the newest).
    pub fn append(&mut self, entry: AbortedTxn) -> Result<()> {
        if self.entries.last().is_some_and(|e| e.last_offset >= entry.last_offset) {
            return Ok(()); // Replayed twice; already indexed.
        }
        let at = (self.entries.len() * ENTRY_LEN) as u64;
        self.file
            .write_all_at(&entry.encode(), at)
            .map_err(Error::io(format!("appending to {}", self.path.display())))?;
        self.entries.push(entry);
        self.dirty = true;
        Ok(())
    }

    /// Fsyncs appended entries (called by the flusher before it advances the recovery point).
    pub fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file.sync_data().map_err(Error::io(format!("syncing {}", self.path.display())))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Drops entries whose marker is at or after `offset` (they are rebuilt by log replay).
    pub fn truncate_from(&mut self, offset: i64) -> Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.rewrite()?;
        }
        Ok(())
    }

    /// Drops entries wholly below the log start offset (their data is gone).
    pub fn trim_below(&mut self, log_start: i64) -> Result<()> {
        let drop = self.entries.partition_point(|e| e.last_offset < log_start);
        if drop > 0 {
            self.entries.drain(..drop);
            self.rewrite()?;
        }
        Ok(())
    }

    /// The aborted transactions a read_committed fetch from `fetch_offset` must be told about
    /// when it returns data below `upper`: `(producer id, first offset)` pairs.
    pub fn collect(&self, fetch_offset: i64, upper: i64) -> Vec<(i64, i64)> {
        let start = self.entries.partition_point(|e| e.last_offset < fetch_offset);
        let mut out = Vec::new();
        for e in &self.entries[start..] {
            if e.first_offset < upper {
                out.push((e.producer_id, e.first_offset));
            }
            if e.last_stable_offset >= upper {
                break;
            }
        }
        out
    }

    /// Whether the record at `offset` written by `producer_id` belongs to an aborted
    /// transaction.
    pub fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        contains(&self.entries, producer_id, offset)
    }

    /// The entries, sorted by marker offset.
    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no aborted transaction is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn rewrite(&mut self) -> Result<()> {
        let mut buf = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            buf.extend_from_slice(&e.encode());
        }
        self.file.set_len(0).map_err(Error::io(format!("truncating {}", self.path.display())))?;
        self.file.write_all_at(&buf, 0).map_err(Error::io(format!("writing {}", self.path.display())))?;
        self.file.sync_data().map_err(Error::io(format!("syncing {}", self.path.display())))?;
        self.dirty = false;
        Ok(())
    }
}

/// Whether `entries` (sorted by marker offset) hold an aborted transaction of `producer_id`
/// spanning `offset` (used by compaction, which drops aborted data, on a copy of the entries).
pub fn contains(entries: &[AbortedTxn], producer_id: i64, offset: i64) -> bool {
    let start = entries.partition_point(|e| e.last_offset < offset);
    for e in &entries[start..] {
        if e.producer_id == producer_id && e.first_offset <= offset {
            return true;
        }
        // Nothing aborted later was open at or below `offset` (see `TxnIndex::collect`).
        if e.last_stable_offset > offset {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: lso }
    }

    #[test]
    fn collect_follows_kafkas_bounds_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TxnIndex::open(dir.path()).unwrap();
        // pid 2's transaction was still open when pid 1's aborted: pid 1's LSO is 5.
        idx.append(entry(1, 0, 10, 5)).unwrap();
        idx.append(entry(2, 5, 20, 21)).unwrap();
        idx.append(entry(3, 30, 40, 41)).unwrap();
        idx.sync().unwrap();
        drop(idx);
        let mut idx = TxnIndex::open(dir.path()).unwrap();
        assert_eq!(idx.len(), 3);
        // A fetch from 12 that returns data up to 25 must know about pid 2 only.
        assert_eq!(idx.collect(12, 25), vec![(2, 5)]);
        // From 0 to 100: all three.
        assert_eq!(idx.collect(0, 100), vec![(1, 0), (2, 5), (3, 30)]);
        // From 0 up to 8: both started below 8; the scan stops at pid 2 (its LSO 21 ≥ 8).
        assert_eq!(idx.collect(0, 8), vec![(1, 0), (2, 5)]);
        assert!(idx.is_aborted(2, 7) && !idx.is_aborted(1, 12) && !idx.is_aborted(3, 12));
        idx.truncate_from(20).unwrap();
        assert_eq!(idx.collect(0, 100), vec![(1, 0)]);
        idx.trim_below(11).unwrap();
        assert!(idx.is_empty());
    }

    #[test]
    fn a_torn_entry_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TxnIndex::open(dir.path()).unwrap();
        idx.append(entry(1, 0, 10, 11)).unwrap();
        drop(idx);
        let path = dir.path().join("aborted.txnindex");
        let mut data = std::fs::read(&path).unwrap();
        data.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, data).unwrap();
        let idx = TxnIndex::open(dir.path()).unwrap();
        assert_eq!(idx.len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), ENTRY_LEN as u64);
    }
}
