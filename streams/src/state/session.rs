//! Key-and-time layout for session windows and join buffers.
//!
//! Entries are addressed by `(key, time, tiebreak)`:
//! * sessions: time = session end, tiebreak = session start;
//! * outer stream-stream joins' rows still without a partner: time = record timestamp,
//!   tiebreak = a sequence number (the join buffers themselves are
//!   [`JoinBuffer`](super::join_buffer::JoinBuffer)s).
//!
//! The primary store is key-first (`len ‖ key ‖ time ‖ tiebreak`), so all entries of a key are
//! one prefix scan. A second store indexes by time (`time ‖ len ‖ key ‖ tiebreak`), so entries
//! that fall out of retention or whose session closed are found without scanning every key.

use bytes::Bytes;

use super::KeyValueStore;
use super::encoding::{prefix_end, put_prefixed, read_prefixed, read_ts, ts};
use crate::error::Result;

/// One entry's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record key.
    pub key: Bytes,
    /// Session end or record time.
    pub time: i64,
    /// Session start or sequence number.
    pub tiebreak: i64,
}

/// A store of `(key, time, tiebreak) → value` with a time index.
pub struct KeyTimeStore {
    by_key: Box<dyn KeyValueStore>,
    by_time: Box<dyn KeyValueStore>,
    /// Every entry's time is `>= oldest` (`i64::MIN`: nothing known, as after a restart;
    /// `i64::MAX`: empty).
    /// Lets [`expire`](Self::expire) and [`older_than`](Self::older_than) skip the scan of
    /// the time index when nothing can be that old — the common case, since they run as
    /// stream time advances, far more often than entries fall out of retention.
    oldest: i64,
}

fn key_first(key: &[u8], time: i64, tiebreak: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 20);
    put_prefixed(&mut out, key);
    out.extend_from_slice(&ts(time));
    out.extend_from_slice(&ts(tiebreak));
    out
}

fn time_first(key: &[u8], time: i64, tiebreak: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 20);
    out.extend_from_slice(&ts(time));
    put_prefixed(&mut out, key);
    out.extend_from_slice(&ts(tiebreak));
    out
}

/// Appends to `out` the entries stored as `prefix ‖ time ‖ tiebreak` with time in
/// `[from, to]`, in key order, addressed to `key`.
pub(super) fn scan_times(
    store: &mut dyn KeyValueStore,
    prefix: &[u8],
    key: &Bytes,
    from: i64,
    to: i64,
    out: &mut Vec<(Entry, Bytes)>,
) -> Result<()> {
    let mut start = prefix.to_vec();
    start.extend_from_slice(&ts(from));
    let end = prefix_end(prefix);
    store.scan(&start, end.as_deref(), &mut |raw, v| {
        let rest = &raw[prefix.len()..];
        let time = read_ts(rest);
        if time > to {
            return false;
        }
        out.push((
            Entry { key: key.clone(), time, tiebreak: read_ts(&rest[8..]) },
            Bytes::copy_from_slice(v),
        ));
        true
    })
}

impl KeyTimeStore {
    /// Builds the layout over two stores (primary and time index).
    pub fn new(by_key: Box<dyn KeyValueStore>, by_time: Box<dyn KeyValueStore>) -> Self {
        KeyTimeStore { by_key, by_time, oldest: i64::MIN }
    }

    /// Inserts or replaces an entry.
    pub fn put(&mut self, key: &[u8], time: i64, tiebreak: i64, value: &[u8]) -> Result<()> {
        self.oldest = self.oldest.min(time);
        self.by_key.put(&key_first(key, time, tiebreak), value)?;
        self.by_time.put(&time_first(key, time, tiebreak), &[])
    }

    /// Removes an entry.
    pub fn remove(&mut self, key: &[u8], time: i64, tiebreak: i64) -> Result<()> {
        self.by_key.delete(&key_first(key, time, tiebreak))?;
        self.by_time.delete(&time_first(key, time, tiebreak))
    }

    /// Entries of `key` with time in `[from, to]`, ordered by (time, tiebreak).
    pub fn fetch(&mut self, key: &[u8], from: i64, to: i64) -> Result<Vec<(Entry, Bytes)>> {
        let mut prefix = Vec::with_capacity(key.len() + 4);
        put_prefixed(&mut prefix, key);
        let mut out = Vec::new();
        scan_times(self.by_key.as_mut(), &prefix, &Bytes::copy_from_slice(key), from, to, &mut out)?;
        Ok(out)
    }

    /// Entries with time `< before`, in time order (for expiry and closing sessions).
    pub fn older_than(&mut self, before: i64) -> Result<Vec<Entry>> {
        if before <= self.oldest {
            return Ok(Vec::new());
        }
        let (old, _) = self.scan_older(before)?;
        Ok(old)
    }

    /// Entries with time `< before`, and the time of the first entry at or after `before`.
    /// Learns the oldest time present.
    fn scan_older(&mut self, before: i64) -> Result<(Vec<Entry>, Option<i64>)> {
        let mut out = Vec::new();
        let mut next = None;
        self.by_time.scan(&ts(i64::MIN), None, &mut |raw, _| {
            let time = read_ts(raw);
            if time >= before {
                next = Some(time);
                return false;
            }
            if let Some((key, rest)) = read_prefixed(&raw[8..]) {
                out.push(Entry { key: Bytes::copy_from_slice(key), time, tiebreak: read_ts(rest) });
            }
            true
        })?;
        self.oldest = out.first().map(|e| e.time).or(next).unwrap_or(i64::MAX);
        Ok((out, next))
    }

    /// The value of one entry.
    pub fn get(&mut self, key: &[u8], time: i64, tiebreak: i64) -> Result<Option<Bytes>> {
        self.by_key.get(&key_first(key, time, tiebreak))
    }

    /// Removes every entry with time `< before`; returns how many.
    pub fn expire(&mut self, before: i64) -> Result<usize> {
        if before <= self.oldest {
            return Ok(0);
        }
        let (old, next) = self.scan_older(before)?;
        for e in &old {
            self.by_key.delete(&key_first(&e.key, e.time, e.tiebreak))?;
        }
        if !old.is_empty() {
            self.by_time.delete_range(&ts(i64::MIN), &ts(before))?;
        }
        self.oldest = next.unwrap_or(i64::MAX);
        Ok(old.len())
    }

    /// Flushes both stores.
    pub fn flush(&mut self) -> Result<()> {
        self.by_key.flush()?;
        self.by_time.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStore;

    #[test]
    fn fetch_by_key_and_expire_by_time() {
        let mut s = KeyTimeStore::new(Box::new(MemoryStore::new("a")), Box::new(MemoryStore::new("b")));
        s.put(b"k", 100, 0, b"x").unwrap();
        s.put(b"k", 50, 1, b"y").unwrap();
        s.put(b"kk", 60, 0, b"z").unwrap();
        let got = s.fetch(b"k", 0, 100).unwrap();
        assert_eq!(
            got.iter().map(|(e, v)| (e.time, v.clone())).collect::<Vec<_>>(),
            vec![(50, Bytes::from_static(b"y")), (100, Bytes::from_static(b"x"))]
        );
        assert_eq!(s.fetch(b"k", 60, 99).unwrap().len(), 0);
        assert_eq!(s.expire(61).unwrap(), 2);
        assert_eq!(s.fetch(b"k", 0, 1000).unwrap().len(), 1);
        assert!(s.fetch(b"kk", 0, 1000).unwrap().is_empty());
        // Nothing older than 61 is left; an entry put back in the past is still found.
        assert_eq!(s.expire(61).unwrap(), 0);
        s.put(b"old", 10, 0, b"w").unwrap();
        assert_eq!(s.older_than(61).unwrap().len(), 1);
        assert_eq!(s.expire(61).unwrap(), 1);
        assert!(s.older_than(1000).unwrap().iter().all(|e| e.time >= 61));
    }
}
