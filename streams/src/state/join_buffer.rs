//! Time-segmented buffers for stream-stream joins.
//!
//! A join buffer holds one side's records of the last `before + after + grace` of stream time:
//! every record is written once, looked up by key within a time range, and dropped once it is
//! too old to meet anything — by time, never by key. The layout follows Kafka Streams'
//! segmented window stores:
//!
//! ```text
//!  store key:  segment ‖ len ‖ key ‖ time ‖ seq      (segment = time / segment interval)
//!  put:        appended to a pending batch ──(sorted, on flush or when large)──► store
//!  fetch:      for each live segment overlapping [from, to] whose key filter may hold the key:
//!                prefix scan  segment ‖ len ‖ key,  from `from` up to `to`
//!  expire:     whole segments older than the horizon: one range delete each
//! ```
//!
//! So a record costs one store write (no time index), writes reach the store in key order
//! (cheap memtable inserts), lookups of keys the other side never had cost no store access
//! at all (per-segment [`KeyFilter`]s in memory), and expiry costs no scan. Segments written
//! before a restart have no filter and are always looked up.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::KeyValueStore;
use super::encoding::{prefix_end, put_prefixed, read_ts, ts};
use super::key_filter::KeyFilter;
use super::session::Entry;
use crate::error::Result;

/// Pending bytes past which writes go to the store before the next flush.
const PENDING_LIMIT_BYTES: usize = 16 << 20;

/// How far behind stream time a join buffer keeps records: beyond it a buffered record can no
/// longer meet a record of the other side that is not late.
pub fn join_horizon(before: i64, after: i64, grace: i64) -> i64 {
    before.max(after).saturating_mul(2).saturating_add(grace)
}

/// The first sequence number a join hands out in this process: the wall clock in
/// nanoseconds, so records buffered after a restart never reuse the `(key, time, seq)` of a
/// record buffered before it (a counter from zero would overwrite them).
pub fn initial_sequence() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX / 2))
}

/// One side of a stream-stream join: `(key, time, seq) → value`, segmented by time.
pub struct JoinBuffer {
    store: Box<dyn KeyValueStore>,
    segment_ms: i64,
    /// Live segments; `None`: written before this process opened the store (no filter).
    segments: BTreeMap<i64, Option<KeyFilter>>,
    /// Writes not yet in the store.
    pending: Vec<(Bytes, Option<Bytes>)>,
    pending_bytes: usize,
}

impl JoinBuffer {
    /// The segment interval Kafka Streams would pick for records kept `retention_ms`: half
    /// the retention (a lookup spans at most three segments, expiry lags by at most half),
    /// and at least one second.
    pub fn segment_interval(retention_ms: i64) -> i64 {
        (retention_ms / 2).max(1000)
    }

    /// Opens a buffer over `store` (which should be unbuffered: the buffer batches its own
    /// writes) and finds the segments it already holds.
    pub fn open(mut store: Box<dyn KeyValueStore>, segment_ms: i64) -> Result<JoinBuffer> {
        let mut segments = BTreeMap::new();
        let mut from = ts(i64::MIN).to_vec();
        loop {
            let mut found = None;
            store.scan(&from, None, &mut |k, _| {
                found = k.get(..8).map(read_ts);
                false
            })?;
            let Some(segment) = found else { break };
            segments.insert(segment, None);
            if segment == i64::MAX {
                break;
            }
            from = ts(segment + 1).to_vec();
        }
        Ok(JoinBuffer {
            store,
            segment_ms: segment_ms.max(1),
            segments,
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    fn segment_of(&self, time: i64) -> i64 {
        time.div_euclid(self.segment_ms)
    }

    /// Buffers a record.
    pub fn put(&mut self, key: &[u8], time: i64, seq: i64, value: &[u8]) -> Result<()> {
        let segment = self.segment_of(time);
        let mut k = Vec::with_capacity(key.len() + 28);
        k.extend_from_slice(&ts(segment));
        put_prefixed(&mut k, key);
        k.extend_from_slice(&ts(time));
        k.extend_from_slice(&ts(seq));
        if let Some(filter) = self.segments.entry(segment).or_insert_with(|| Some(KeyFilter::new())) {
            filter.insert(key);
        }
        self.pending_bytes += k.len() + value.len();
        self.pending.push((Bytes::from(k), Some(Bytes::copy_from_slice(value))));
        if self.pending_bytes >= PENDING_LIMIT_BYTES {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.pending);
        if std::env::var("BROOK_DBG").is_ok() {
            let v: usize = batch.iter().map(|(_, v)| v.as_ref().map_or(0, |v| v.len())).sum();
            let k: usize = batch.iter().map(|(k, _)| k.len()).sum();
            eprintln!(
                "pending {} entries, key {} value {} avg",
                batch.len(),
                k / batch.len(),
                v / batch.len()
            );
        }
        self.pending_bytes = 0;
        // Key order makes the memtable inserts sequential; the sort is stable, so a key
        // written twice keeps its last value.
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        self.store.write_batch(batch)
    }

    /// Records of `key` with time in `[from, to]`, ordered by (time, seq).
    pub fn fetch(&mut self, key: &[u8], from: i64, to: i64) -> Result<Vec<(Entry, Bytes)>> {
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let range = self.segment_of(from)..=self.segment_of(to);
        let candidates: Vec<i64> = self
            .segments
            .range(range)
            .filter(|(_, filter)| filter.as_ref().is_none_or(|f| f.may_contain(key)))
            .map(|(&s, _)| s)
            .collect();
        if candidates.is_empty() {
            return Ok(out);
        }
        self.write_pending()?;
        let k = Bytes::copy_from_slice(key);
        for segment in candidates {
            let mut prefix = Vec::with_capacity(key.len() + 12);
            prefix.extend_from_slice(&ts(segment));
            put_prefixed(&mut prefix, key);
            let mut start = prefix.clone();
            start.extend_from_slice(&ts(from));
            let end = prefix_end(&prefix);
            self.store.scan(&start, end.as_deref(), &mut |raw, v| {
                let rest = &raw[prefix.len()..];
                let time = read_ts(rest);
                if time > to {
                    return false;
                }
                out.push((
                    Entry { key: k.clone(), time, tiebreak: read_ts(&rest[8..]) },
                    Bytes::copy_from_slice(v),
                ));
                true
            })?;
        }
        Ok(out)
    }

    /// Drops every segment whose records are all older than `before`; returns how many.
    /// Records of a segment that is only partly older stay until the whole segment is.
    pub fn expire(&mut self, before: i64) -> Result<usize> {
        // Segment s holds [s * interval, (s + 1) * interval): all older iff s < before / interval.
        let keep_from = self.segment_of(before);
        let old: Vec<i64> = self.segments.range(..keep_from).map(|(&s, _)| s).collect();
        let (Some(&first), Some(&last)) = (old.first(), old.last()) else { return Ok(0) };
        for s in &old {
            self.segments.remove(s);
        }
        let end = ts(last.saturating_add(1));
        self.pending.retain(|(k, _)| k.as_ref() >= end.as_slice());
        self.pending_bytes =
            self.pending.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len)).sum();
        if last == i64::MAX {
            self.store.delete_range(&ts(first), &[0xff; 9])?;
        } else {
            self.store.delete_range(&ts(first), &end)?;
        }
        Ok(old.len())
    }

    /// Writes pending records and flushes the store.
    pub fn flush(&mut self) -> Result<()> {
        self.write_pending()?;
        self.store.flush()
    }

    /// Memory held by the key filters, in bytes.
    pub fn filter_bytes(&self) -> usize {
        self.segments.values().flatten().map(KeyFilter::memory_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStore;

    fn times(got: &[(Entry, Bytes)]) -> Vec<(i64, i64)> {
        got.iter().map(|(e, _)| (e.time, e.tiebreak)).collect()
    }

    #[test]
    fn fetch_across_segments_in_time_order_and_expire_whole_segments() {
        let mut b = JoinBuffer::open(Box::new(MemoryStore::new("b")), 1000).unwrap();
        b.put(b"k", 2500, 3, b"c").unwrap();
        b.put(b"k", 900, 1, b"a").unwrap();
        b.put(b"k", 1500, 2, b"b").unwrap();
        b.put(b"kk", 1500, 4, b"z").unwrap();
        b.put(b"k", -5, 5, b"neg").unwrap();
        assert_eq!(times(&b.fetch(b"k", 0, 3000).unwrap()), vec![(900, 1), (1500, 2), (2500, 3)]);
        assert_eq!(times(&b.fetch(b"k", 1000, 2499).unwrap()), vec![(1500, 2)]);
        assert_eq!(times(&b.fetch(b"k", -10, 0).unwrap()), vec![(-5, 5)]);
        assert!(b.fetch(b"absent", i64::MIN, i64::MAX).unwrap().is_empty());
        assert_eq!(b.fetch(b"kk", 0, 3000).unwrap()[0].1, Bytes::from_static(b"z"));
        // Segments -1 and 0 end at or before 1000; segment 1 holds 1500, which is not all old.
        assert_eq!(b.expire(1600).unwrap(), 2);
        assert_eq!(times(&b.fetch(b"k", i64::MIN, i64::MAX).unwrap()), vec![(1500, 2), (2500, 3)]);
        assert_eq!(b.expire(1600).unwrap(), 0);
    }

    #[test]
    fn reopening_finds_the_segments_and_looks_them_up_without_filters() {
        use crate::state::StateBackend;
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::state::rocksdb::RocksDbBackend::new(dir.path(), 8 << 20);
        let mut b = JoinBuffer::open(store.open("j").unwrap(), 1000).unwrap();
        b.put(b"k", 100, 1, b"a").unwrap();
        b.put(b"k", 5100, 2, b"b").unwrap();
        b.flush().unwrap();
        let mut again = JoinBuffer::open(store.open("j").unwrap(), 1000).unwrap();
        assert_eq!(again.segments.keys().copied().collect::<Vec<_>>(), vec![0, 5]);
        assert_eq!(times(&again.fetch(b"k", 0, 10_000).unwrap()), vec![(100, 1), (5100, 2)]);
        assert_eq!(again.expire(1000).unwrap(), 1);
        assert_eq!(times(&again.fetch(b"k", 0, 10_000).unwrap()), vec![(5100, 2)]);
    }
}
