//! Sparse offset and time indexes of one segment.
//!
//! Both live in memory while the segment is open (8–16 bytes per `index.interval.bytes` of log,
//! about 2–4 MB per GB) and are written next to the segment when it rolls or the broker shuts
//! down cleanly. After a crash the active segment's indexes are rebuilt from the log itself, and
//! any index file that fails validation is rebuilt too, so an index is never trusted blindly.
//!
//! * Offset index entry `(relative offset, position)`: the batch with that base offset starts at
//!   that byte. A lookup returns the last entry at or below the target; scanning forward from it
//!   finds the batch containing the target.
//! * Time index entry `(max timestamp so far, relative offset, position)`: every record before and
//!   in that batch has a timestamp ≤ the entry's. A lookup for `T` returns the last entry with
//!   timestamp `< T`, so scanning forward from it cannot miss the first record with timestamp ≥ T.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Offset index of one segment.
#[derive(Debug, Default, Clone)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Adds an entry; offsets and positions must increase.
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        self.entries.push((relative_offset, position));
    }

    /// Byte position from which to scan for `relative_offset`.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        let i = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        if i == 0 { 0 } else { self.entries[i - 1].1 }
    }

    /// Drops entries at or beyond `position` (after a truncation).
    pub fn truncate_to_position(&mut self, position: u32) {
        self.entries.retain(|&(_, p)| p < position);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the index to `path` (big-endian `u32` pairs).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut buf = Vec::with_capacity(self.entries.len() * 8);
        for &(o, p) in &self.entries {
            buf.extend_from_slice(&o.to_be_bytes());
            buf.extend_from_slice(&p.to_be_bytes());
        }
        write_file(path, &buf)
    }

    /// Reads an index file, checking that entries increase and stay inside the segment.
    pub fn read(path: &Path, segment_size: u64) -> Result<OffsetIndex> {
        let data = fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
        if data.len() % 8 != 0 {
            return Err(corrupt(path, data.len() as u64, "index length is not a multiple of 8"));
        }
        let mut index = OffsetIndex::default();
        for (i, chunk) in data.chunks_exact(8).enumerate() {
            let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            let increasing = index.entries.last().is_none_or(|&(lo, lp)| o > lo && p > lp);
            if !increasing || p as u64 >= segment_size.max(1) {
                return Err(corrupt(path, (i * 8) as u64, "index entries out of order or range"));
            }
            index.entries.push((o, p));
        }
        Ok(index)
    }
}

/// Time index of one segment.
#[derive(Debug, Default, Clone)]
pub struct TimeIndex {
    entries: Vec<(i64, u32, u32)>,
}

impl TimeIndex {
    /// Adds an entry whose timestamp is the segment's max timestamp so far.
    pub fn push(&mut self, timestamp: i64, relative_offset: u32, position: u32) {
        self.entries.push((timestamp, relative_offset, position));
    }

    /// Timestamp of the last entry.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|e| e.0)
    }

    /// Byte position from which to scan for the first record with timestamp ≥ `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> u32 {
        let i = self.entries.partition_point(|&(t, _, _)| t < timestamp);
        if i == 0 { 0 } else { self.entries[i - 1].2 }
    }

    /// Drops entries at or beyond `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        self.entries.retain(|&(_, _, p)| p < position);
    }

    /// Writes the index to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut buf = Vec::with_capacity(self.entries.len() * 16);
        for &(t, o, p) in &self.entries {
            buf.extend_from_slice(&t.to_be_bytes());
            buf.extend_from_slice(&o.to_be_bytes());
            buf.extend_from_slice(&p.to_be_bytes());
        }
        write_file(path, &buf)
    }

    /// Reads a time index file, validating it.
    pub fn read(path: &Path, segment_size: u64) -> Result<TimeIndex> {
        let data = fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
        if data.len() % 16 != 0 {
            return Err(corrupt(path, data.len() as u64, "time index length is not a multiple of 16"));
        }
        let mut index = TimeIndex::default();
        for (i, c) in data.chunks_exact(16).enumerate() {
            let mut t = [0u8; 8];
            t.copy_from_slice(&c[0..8]);
            let t = i64::from_be_bytes(t);
            let o = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            let p = u32::from_be_bytes([c[12], c[13], c[14], c[15]]);
            let ok = index.entries.last().is_none_or(|&(lt, lo, lp)| t > lt && o > lo && p > lp);
            if !ok || p as u64 >= segment_size.max(1) {
                return Err(corrupt(path, (i * 16) as u64, "time index entries out of order or range"));
            }
            index.entries.push((t, o, p));
        }
        Ok(index)
    }
}

fn corrupt(path: &Path, position: u64, reason: &str) -> Error {
    Error::Corrupt { path: path.to_path_buf(), position, reason: reason.to_string() }
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(Error::io(format!("creating {}", tmp.display())))?;
    f.write_all(data).map_err(Error::io(format!("writing {}", tmp.display())))?;
    f.sync_data().map_err(Error::io(format!("syncing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(Error::io(format!("renaming {}", tmp.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_floor_entry() {
        let mut i = OffsetIndex::default();
        i.push(0, 0);
        i.push(10, 4096);
        i.push(20, 8192);
        assert_eq!(i.lookup(0), 0);
        assert_eq!(i.lookup(9), 0);
        assert_eq!(i.lookup(10), 4096);
        assert_eq!(i.lookup(25), 8192);
    }

    #[test]
    fn time_lookup_is_strictly_below_target() {
        let mut i = TimeIndex::default();
        i.push(100, 0, 0);
        i.push(200, 10, 4096);
        assert_eq!(i.lookup(100), 0);
        assert_eq!(i.lookup(200), 0);
        assert_eq!(i.lookup(201), 4096);
    }

    #[test]
    fn damaged_index_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.index");
        let mut i = OffsetIndex::default();
        i.push(1, 100);
        i.push(2, 200);
        i.write(&p).unwrap();
        assert_eq!(OffsetIndex::read(&p, 1000).unwrap().len(), 2);
        assert!(OffsetIndex::read(&p, 150).is_err());
        fs::write(&p, [0u8; 7]).unwrap();
        assert!(OffsetIndex::read(&p, 1000).is_err());
    }
}
