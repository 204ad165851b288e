//! Buffers for stream-stream joins, written in generations.
//!
//! A join buffer holds one side's records of the last `before + after + grace` of stream time:
//! every record is written once, looked up by key within a time range, and dropped once it is
//! too old to meet anything — by time, never by key.
//!
//! Records are written in *generations*: the open generation takes every new record until it
//! holds [`GENERATION_BYTES`] or spans more than the generation interval of time, then the
//! next one opens. A record's store key starts with its generation:
//!
//! ```text
//!  data:  generation ‖ len ‖ key ‖ time ‖ seq  → value
//!  meta:  generation                          → min time ‖ max time   (sorts first)
//!  put:     appended to the open generation's pending batch
//!  seal:    (generation full, or the task flushes) the batch, sorted ──► store, which
//!           writes it out as its own file (RocksDB: a memtable switch and background flush)
//!  fetch:   for each generation whose [min, max] overlaps [from, to] and whose key filter
//!           may hold the key: prefix scan  generation ‖ len ‖ key, from `from` up to `to`
//!  expire:  each generation whose max time is older than the horizon: one range delete
//! ```
//!
//! Why generations rather than time segments: within a segment, keys arrive in random order,
//! so each compaction of the LSM tree merges new files into all of the segment's older data
//! and rewrites it. A generation is sealed into one file of its own and never written again,
//! and generations do not overlap in key space, so compactions move them down the levels
//! without rewriting them (RocksDB's trivial moves). A record costs one store write (no time index), writes reach the store in
//! key order (cheap memtable inserts), lookups of keys the other side never had cost no
//! store access at all (per-generation [`KeyFilter`]s in memory), and expiry costs no scan.
//! Generations written before a restart have no filter and are always looked up.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::KeyValueStore;
use super::encoding::{put_prefixed, read_ts, ts};
use super::key_filter::KeyFilter;
use super::session::{Entry, scan_times};
use crate::error::Result;

/// Bytes (keys and values) a generation holds before the next one opens: what fits one
/// RocksDB memtable (16 MB, with room for its index), so a generation is one level-0 file.
pub const GENERATION_BYTES: usize = 12 << 20;

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

struct Generation {
    min: i64,
    max: i64,
    bytes: usize,
    /// Closed: no more records go to it.
    sealed: bool,
    /// `None`: written before this process opened the store.
    filter: Option<KeyFilter>,
}

/// A generation's metadata key: its number alone, inside the generation's key range (so a
/// generation's file holds nothing outside it), before all of its records.
fn meta_key(generation: i64) -> Vec<u8> {
    ts(generation).to_vec()
}

/// One side of a stream-stream join: `(key, time, seq) → value`, written in generations.
pub struct JoinBuffer {
    store: Box<dyn KeyValueStore>,
    /// Longest stretch of time one generation covers (expiry lags by at most this).
    interval_ms: i64,
    generations: BTreeMap<i64, Generation>,
    /// The generation new records go to.
    open: i64,
    /// Writes of the open generation not yet in the store.
    pending: Vec<(Bytes, Option<Bytes>)>,
}

impl JoinBuffer {
    /// The generation interval for records kept `retention_ms`: half the retention (expiry
    /// lags by at most half), at least one second — Kafka Streams' segment interval.
    pub fn segment_interval(retention_ms: i64) -> i64 {
        (retention_ms / 2).max(1000)
    }

    /// Opens a buffer over `store` (which should be unbuffered: the buffer batches its own
    /// writes) and reads which generations it holds.
    pub fn open(mut store: Box<dyn KeyValueStore>, interval_ms: i64) -> Result<JoinBuffer> {
        // Each generation's range starts with its metadata: skip from one to the next.
        let mut generations = BTreeMap::new();
        let mut from = ts(i64::MIN).to_vec();
        loop {
            let mut found = None;
            store.scan(&from, None, &mut |k, v| {
                found = Some((k.to_vec(), v.to_vec()));
                false
            })?;
            let Some((k, v)) = found else { break };
            let Some(n) = k.get(..8).map(read_ts) else { break };
            if let (8, Some(min), Some(max)) = (k.len(), v.get(..8), v.get(8..16)) {
                generations.insert(
                    n,
                    Generation { min: read_ts(min), max: read_ts(max), bytes: 0, sealed: true, filter: None },
                );
            } else {
                // Records without metadata cannot be placed in time: keep them findable.
                generations.insert(
                    n,
                    Generation { min: i64::MIN, max: i64::MAX, bytes: 0, sealed: true, filter: None },
                );
            }
            if n == i64::MAX {
                break;
            }
            from = ts(n + 1).to_vec();
        }
        let open = generations.keys().next_back().map_or(0, |g| g + 1);
        Ok(JoinBuffer { store, interval_ms: interval_ms.max(1), generations, open, pending: Vec::new() })
    }

    /// Opens the next generation if the open one is full, or `time` would stretch it past the
    /// interval; returns the open generation's number.
    fn roll(&mut self, time: i64) -> Result<i64> {
        let next_capacity = match self.generations.get(&self.open) {
            None => Some(0),
            Some(g) => {
                let full = g.sealed
                    || g.bytes >= GENERATION_BYTES
                    || time.max(g.max).saturating_sub(time.min(g.min)) > self.interval_ms;
                full.then(|| g.filter.as_ref().map_or(0, KeyFilter::len))
            }
        };
        if let Some(keys) = next_capacity {
            self.seal()?;
            if self.generations.contains_key(&self.open) {
                self.open += 1;
            }
            let filter = Some(if keys == 0 { KeyFilter::new() } else { KeyFilter::with_capacity(keys) });
            self.generations
                .insert(self.open, Generation { min: time, max: time, bytes: 0, sealed: false, filter });
        }
        Ok(self.open)
    }

    /// Closes the open generation: its records go to the store, which may write them out
    /// on their own (see [`KeyValueStore::seal`]).
    fn seal(&mut self) -> Result<()> {
        let Some(g) = self.generations.get_mut(&self.open) else { return Ok(()) };
        if g.sealed {
            return Ok(());
        }
        g.sealed = true;
        self.write_pending()?;
        self.store.seal()
    }

    /// Buffers a record.
    pub fn put(&mut self, key: &[u8], time: i64, seq: i64, value: &[u8]) -> Result<()> {
        let open = self.roll(time)?;
        let mut k = Vec::with_capacity(key.len() + 28);
        k.extend_from_slice(&ts(open));
        put_prefixed(&mut k, key);
        k.extend_from_slice(&ts(time));
        k.extend_from_slice(&ts(seq));
        let size = k.len() + value.len();
        if let Some(g) = self.generations.get_mut(&open) {
            g.min = g.min.min(time);
            g.max = g.max.max(time);
            g.bytes += size;
            if let Some(f) = &mut g.filter {
                f.insert(key);
            }
        }
        self.pending.push((Bytes::from(k), Some(Bytes::copy_from_slice(value))));
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.pending);
        // Pending records all belong to the open generation (sealing writes them out): its
        // time bounds go in the same batch.
        if let Some(g) = self.generations.get(&self.open) {
            let mut v = ts(g.min).to_vec();
            v.extend_from_slice(&ts(g.max));
            batch.push((Bytes::from(meta_key(self.open)), Some(Bytes::from(v))));
        }
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
        let candidates: Vec<i64> = self
            .generations
            .iter()
            .filter(|(_, g)| g.min <= to && g.max >= from)
            .filter(|(_, g)| g.filter.as_ref().is_none_or(|f| f.may_contain(key)))
            .map(|(&n, _)| n)
            .collect();
        if candidates.is_empty() {
            return Ok(out);
        }
        self.write_pending()?;
        let k = Bytes::copy_from_slice(key);
        for generation in candidates {
            let mut prefix = Vec::with_capacity(key.len() + 12);
            prefix.extend_from_slice(&ts(generation));
            put_prefixed(&mut prefix, key);
            scan_times(self.store.as_mut(), &prefix, &k, from, to, &mut out)?;
        }
        out.sort_by_key(|(e, _)| (e.time, e.tiebreak));
        Ok(out)
    }

    /// Drops every generation whose records are all older than `before`; returns how many.
    /// Records of a generation that also holds newer ones stay until all of it is old.
    pub fn expire(&mut self, before: i64) -> Result<usize> {
        let old: Vec<i64> =
            self.generations.iter().filter(|(_, g)| g.max < before).map(|(&n, _)| n).collect();
        if old.is_empty() {
            return Ok(0);
        }
        for n in &old {
            self.generations.remove(n);
        }
        self.pending.retain(|(k, _)| k.get(..8).is_none_or(|g| !old.contains(&read_ts(g))));
        for &n in &old {
            self.store.delete_range(&ts(n), &ts(n.saturating_add(1)))?;
        }
        Ok(old.len())
    }

    /// Closes the open generation (so no generation spans a flush and later writes), writes
    /// pending records and flushes the store.
    pub fn flush(&mut self) -> Result<()> {
        self.seal()?;
        self.write_pending()?;
        self.store.flush()
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
    fn fetch_across_generations_in_time_order_and_expire_old_generations() {
        let mut b = JoinBuffer::open(Box::new(MemoryStore::new("b")), 1000).unwrap();
        b.put(b"k", 2500, 3, b"c").unwrap(); // generation 0
        b.put(b"k", 900, 1, b"a").unwrap(); // would span 1600 ms: generation 1
        b.put(b"k", 1500, 2, b"b").unwrap(); // generation 1 spans 900..1500
        b.put(b"kk", 1500, 4, b"z").unwrap();
        b.put(b"k", -5, 5, b"neg").unwrap(); // generation 2
        assert_eq!(b.generations.len(), 3);
        assert_eq!(times(&b.fetch(b"k", 0, 3000).unwrap()), vec![(900, 1), (1500, 2), (2500, 3)]);
        assert_eq!(times(&b.fetch(b"k", 1000, 2499).unwrap()), vec![(1500, 2)]);
        assert_eq!(times(&b.fetch(b"k", -10, 0).unwrap()), vec![(-5, 5)]);
        assert!(b.fetch(b"absent", i64::MIN, i64::MAX).unwrap().is_empty());
        assert_eq!(b.fetch(b"kk", 0, 3000).unwrap()[0].1, Bytes::from_static(b"z"));
        // Generations 1 (up to 1500) and 2 (-5) are all older than 1600; generation 0 is not.
        assert_eq!(b.expire(1600).unwrap(), 2);
        assert_eq!(times(&b.fetch(b"k", i64::MIN, i64::MAX).unwrap()), vec![(2500, 3)]);
        assert!(b.fetch(b"kk", i64::MIN, i64::MAX).unwrap().is_empty());
        assert_eq!(b.expire(1600).unwrap(), 0);
        // New records go to a new generation, found together with the old one.
        b.put(b"k", 2600, 6, b"d").unwrap();
        assert_eq!(times(&b.fetch(b"k", 0, 3000).unwrap()), vec![(2500, 3), (2600, 6)]);
    }

    #[test]
    fn reopening_finds_the_generations_and_looks_them_up_without_filters() {
        use crate::state::StateBackend;
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::state::rocksdb::RocksDbBackend::new(dir.path(), 8 << 20);
        let mut b = JoinBuffer::open(store.open("j").unwrap(), 1000).unwrap();
        b.put(b"k", 100, 1, b"a").unwrap();
        b.put(b"k", 5100, 2, b"b").unwrap();
        b.flush().unwrap();
        let mut again = JoinBuffer::open(store.open("j").unwrap(), 1000).unwrap();
        assert_eq!(again.generations.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert!(again.generations.values().all(|g| g.filter.is_none()));
        assert_eq!(times(&again.fetch(b"k", 0, 10_000).unwrap()), vec![(100, 1), (5100, 2)]);
        // Records after the restart open a new generation, with a filter.
        again.put(b"k", 5200, 3, b"c").unwrap();
        assert_eq!(again.open, 2);
        assert_eq!(again.expire(1000).unwrap(), 1);
        assert_eq!(times(&again.fetch(b"k", 0, 10_000).unwrap()), vec![(5100, 2), (5200, 3)]);
    }
}
