//! Window store layout: `window start ‖ key → value`, ordered by time first.
//!
//! Time-first order makes the two window-lifecycle operations range operations: emitting the
//! windows that closed (a scan over a start-time range) and dropping expired windows (one range
//! delete). Looking up the window of a record is a point `get`.

use bytes::Bytes;

use super::KeyValueStore;
use super::encoding::{read_ts, ts};
use crate::error::Result;

/// Called with (key, window start, value) for each window scanned; returns whether to go on.
pub type WindowVisitor<'a> = dyn FnMut(&[u8], i64, &[u8]) -> bool + 'a;

/// Windowed aggregates keyed by (window start, key).
pub struct WindowStore {
    store: Box<dyn KeyValueStore>,
}

fn encode(key: &[u8], start: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&ts(start));
    k.extend_from_slice(key);
    k
}

impl WindowStore {
    /// Uses `store` for the window layout.
    pub fn new(store: Box<dyn KeyValueStore>) -> Self {
        WindowStore { store }
    }

    /// The value of `key` in the window starting at `start`.
    pub fn get(&mut self, key: &[u8], start: i64) -> Result<Option<Bytes>> {
        self.store.get(&encode(key, start))
    }

    /// Sets the value of `key` in the window starting at `start`.
    pub fn put(&mut self, key: &[u8], start: i64, value: &[u8]) -> Result<()> {
        self.store.put(&encode(key, start), value)
    }

    /// Removes one window of one key.
    pub fn delete(&mut self, key: &[u8], start: i64) -> Result<()> {
        self.store.delete(&encode(key, start))
    }

    /// Visits windows with start in `[from, to)` in (start, key) order.
    pub fn scan(&mut self, from: i64, to: i64, f: &mut WindowVisitor<'_>) -> Result<()> {
        self.store.scan(&ts(from), Some(&ts(to)), &mut |k, v| f(&k[8..], read_ts(k), v))
    }

    /// Drops every window that starts before `start`.
    pub fn expire_before(&mut self, start: i64) -> Result<()> {
        self.store.delete_range(&ts(i64::MIN), &ts(start))
    }

    /// Flushes the underlying store.
    pub fn flush(&mut self) -> Result<()> {
        self.store.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStore;

    #[test]
    fn windows_scan_in_time_order_and_expire() {
        let mut w = WindowStore::new(Box::new(MemoryStore::new("w")));
        w.put(b"b", 10, b"1").unwrap();
        w.put(b"a", 20, b"2").unwrap();
        w.put(b"a", -10, b"3").unwrap();
        let mut seen = Vec::new();
        w.scan(i64::MIN, 20, &mut |k, s, v| {
            seen.push((k.to_vec(), s, v.to_vec()));
            true
        })
        .unwrap();
        assert_eq!(seen, vec![(b"a".to_vec(), -10, b"3".to_vec()), (b"b".to_vec(), 10, b"1".to_vec())]);
        w.expire_before(20).unwrap();
        assert_eq!(w.get(b"b", 10).unwrap(), None);
        assert_eq!(w.get(b"a", 20).unwrap().as_deref(), Some(&b"2"[..]));
    }
}
