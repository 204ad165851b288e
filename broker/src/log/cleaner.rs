//! Background log maintenance: retention (deleting old segments) and compaction (keeping only
//! the latest record per key).
//!
//! Both only ever touch *rolled* segments, never the active one, so appends are not blocked:
//! compaction reads and rewrites segments without the log lock and takes it only to swap a
//! rewritten file in (an atomic `rename`). Readers that already hold the old file keep reading
//! it; Unix keeps unlinked files alive while open.
//!
//! Compaction follows Kafka's rules: a record survives if it is the latest for its key among
//! the rolled segments, or younger than `min.compaction.lag.ms`. A tombstone (null value)
//! survives until its timestamp is `delete.retention.ms` old, so that consumers that are
//! behind still see the delete. Rewritten batches keep their original offsets.
//!
//! Transactions: compaction never reaches the last stable offset (an undecided transaction's
//! records are left alone), drops records of aborted transactions whatever their key (they
//! never count as the latest value of a key), and keeps every transaction marker, so a
//! read_committed consumer still finds the marker of each transaction it meets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::partition::{LogState, MAX_UNCOMPRESSED_BATCH, PartitionLog, remove_segments_below};
use super::record_batch;
use super::segment::{self, Segment};
use super::txn_index;
use crate::error::{Error, Result};
use crate::util::{Periodic, now_ms};

/// What one maintenance pass did to a partition.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanerStats {
    /// Segments deleted by retention.
    pub segments_deleted: usize,
    /// Segments rewritten by compaction.
    pub segments_compacted: usize,
    /// Records removed by compaction.
    pub records_removed: usize,
}

impl PartitionLog {
    /// Deletes rolled segments past `retention.ms` or beyond `retention.bytes`, and rolls an
    /// idle active segment older than `segment.ms` so its data can expire too.
    pub fn enforce_retention(&self) -> Result<CleanerStats> {
        let now = now_ms();
        let mut state = self.state.lock();
        if state.deleted || self.is_offline() {
            return Ok(CleanerStats::default());
        }
        let config = state.config.clone();
        self.roll_if_idle(&mut state, now)?;
        if !config.cleanup_policy.delete {
            return Ok(CleanerStats::default());
        }
        let mut cut = state.log_start_offset;
        if config.retention_ms >= 0 {
            for seg in state.segments.values().take(state.segments.len() - 1) {
                if seg.max_timestamp >= 0 && now - seg.max_timestamp <= config.retention_ms {
                    break;
                }
                cut = cut.max(seg.next_offset);
            }
        }
        if config.retention_bytes >= 0 {
            let mut total: u64 = state.segments.values().map(|s| s.size).sum();
            for seg in state.segments.values().take(state.segments.len() - 1) {
                if total <= config.retention_bytes as u64 {
                    break;
                }
                total -= seg.size;
                cut = cut.max(seg.next_offset);
            }
        }
        let removed = remove_segments_below(&mut state, cut);
        let log_start = state.log_start_offset;
        state.aborted.trim_below(log_start)?;
        drop(state);
        let stats = CleanerStats { segments_deleted: removed.len(), ..Default::default() };
        for path in removed {
            tracing::debug!(path = %path.display(), "retention deleted segment");
            Segment::delete_files(&path);
        }
        Ok(stats)
    }

    fn roll_if_idle(&self, state: &mut LogState, now: i64) -> Result<()> {
        let next = state.next_offset;
        let segment_ms = state.config.segment_ms;
        let Some(active) = state.segments.values_mut().next_back() else { return Ok(()) };
        if active.size == 0 || now - active.created_ms < segment_ms {
            return Ok(());
        }
        active.write_indexes()?;
        state.unflushed.push(active.file.clone());
        let seg = Segment::create(self.dir(), next, now)?;
        state.segments.insert(next, seg);
        Ok(())
    }

    /// Compacts the rolled segments of a `cleanup.policy=compact` topic.
    pub fn compact(&self) -> Result<CleanerStats> {
        let now = now_ms();
        let (config, rolled, aborted) = {
            let state = self.state.lock();
            if state.deleted || self.is_offline() || !state.config.cleanup_policy.compact {
                return Ok(CleanerStats::default());
            }
            let stable = state.last_stable_offset();
            let rolled: Vec<_> = state
                .segments
                .values()
                .take(state.segments.len() - 1)
                .take_while(|s| s.next_offset <= stable)
                .map(|s| (s.base_offset, s.file.clone(), s.path.clone(), s.size))
                .collect();
            let rolled_end = state.segments.values().nth_back(1).map_or(0, |s| s.next_offset);
            if rolled.is_empty() || (rolled_end <= state.compacted_through && !state.compaction_pending) {
                return Ok(CleanerStats::default());
            }
            (state.config.clone(), rolled, state.aborted.entries().to_vec())
        };
        let is_aborted = |h: &record_batch::BatchHeader| {
            h.is_transactional() && txn_index::contains(&aborted, h.producer_id, h.base_offset)
        };
        let rolled_end = {
            let last = rolled.last().map(|r| r.0);
            let state = self.state.lock();
            last.and_then(|b| state.segments.get(&b)).map_or(0, |s| s.next_offset)
        };
        let mut pending = false;
        // Pass 1: the latest offset of every key.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for (_, file, path, size) in &rolled {
            segment::for_each_batch(file, path, 0, *size, |_, header, bytes| {
                if !header.is_control() && !is_aborted(&header) {
                    for r in header.records(&bytes, MAX_UNCOMPRESSED_BATCH)? {
                        if let Some(k) = r.key {
                            latest.insert(k, r.offset);
                        }
                    }
                }
                Ok(true)
            })?;
        }
        // Pass 2: rewrite each segment that loses records.
        let mut stats = CleanerStats::default();
        for (base, file, path, size) in &rolled {
            let mut out = BytesMut::new();
            let mut removed = 0usize;
            segment::for_each_batch(file, path, 0, *size, |_, header, bytes| {
                if header.is_control() {
                    out.extend_from_slice(&bytes);
                    return Ok(true);
                }
                let records = header.records(&bytes, MAX_UNCOMPRESSED_BATCH)?;
                let total = records.len();
                if is_aborted(&header) {
                    removed += total;
                    return Ok(true);
                }
                let kept: Vec<_> = records
                    .into_iter()
                    .filter(|r| {
                        let young = now - r.timestamp < config.min_compaction_lag_ms;
                        let Some(key) = &r.key else { return true };
                        if young {
                            pending = true;
                            return true;
                        }
                        if latest.get(key) != Some(&r.offset) {
                            return false;
                        }
                        if r.value.is_some() {
                            return true;
                        }
                        let keep = now - r.timestamp < config.delete_retention_ms;
                        pending |= keep;
                        keep
                    })
                    .collect();
                removed += total - kept.len();
                if kept.len() == total {
                    out.extend_from_slice(&bytes);
                } else if !kept.is_empty() {
                    out.extend_from_slice(&record_batch::rebuild_batch(&header, &kept));
                }
                Ok(true)
            })?;
            if removed == 0 {
                continue;
            }
            self.swap_segment(*base, *size, &out)?;
            stats.segments_compacted += 1;
            stats.records_removed += removed;
        }
        let mut state = self.state.lock();
        state.compacted_through = state.compacted_through.max(rolled_end);
        state.compaction_pending = pending;
        Ok(stats)
    }

    /// Replaces a rolled segment with compacted contents (or removes it when empty).
    fn swap_segment(&self, base: i64, old_size: u64, data: &[u8]) -> Result<()> {
        let log_path = self.dir().join(format!("{}.log", segment::file_stem(base)));
        let cleaned = self.dir().join(format!("{}.cleaned", segment::file_stem(base)));
        let mut new_segment = None;
        if !data.is_empty() {
            std::fs::write(&cleaned, data).map_err(Error::io(format!("writing {}", cleaned.display())))?;
            std::fs::File::open(&cleaned)
                .and_then(|f| f.sync_all())
                .map_err(Error::io(format!("syncing {}", cleaned.display())))?;
            let interval = self.state.lock().config.index_interval_bytes;
            let (mut seg, damage) = Segment::open(&cleaned, base, true, false, interval, now_ms())?;
            if let Some(e) = damage {
                let _ = std::fs::remove_file(&cleaned);
                return Err(e);
            }
            seg.path = log_path.clone();
            new_segment = Some(seg);
        }
        let mut state = self.state.lock();
        let unchanged = state.segments.get(&base).is_some_and(|s| s.size == old_size)
            && state.segments.keys().next_back() != Some(&base);
        if !unchanged || state.deleted {
            // Retention or deletion got there first.
            let _ = std::fs::remove_file(&cleaned);
            return Ok(());
        }
        match new_segment {
            Some(seg) => {
                std::fs::rename(&cleaned, &log_path)
                    .map_err(Error::io(format!("renaming {}", cleaned.display())))?;
                seg.write_indexes()?;
                state.segments.insert(base, seg);
            }
            None => {
                state.segments.remove(&base);
                Segment::delete_files(&log_path);
            }
        }
        super::partition::sync_dir(self.dir())
    }
}

/// The background maintenance thread.
pub struct Cleaner {
    thread: Periodic,
}

impl Cleaner {
    /// Runs retention and compaction over `logs()` every `interval`.
    pub fn start(interval: Duration, logs: impl Fn() -> Vec<Arc<PartitionLog>> + Send + 'static) -> Cleaner {
        let thread = Periodic::start("brook-cleaner", interval, move || {
            for log in logs() {
                if let Err(e) = log.enforce_retention() {
                    tracing::warn!(log = ?log, error = %e, "retention failed");
                }
                if let Err(e) = log.compact() {
                    tracing::warn!(log = ?log, error = %e, "compaction failed");
                }
            }
        });
        Cleaner { thread }
    }

    /// Stops the thread.
    pub fn stop(&mut self) {
        self.thread.stop();
    }
}
