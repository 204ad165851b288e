//! The log of one partition: an ordered set of segments, the last of which takes appends.
//!
//! ```text
//!   append ──► check batch (CRC, size, producer sequence) ──► assign offsets ──► pwrite
//!                                                        │
//!   fetch(offset) ──► segment ≤ offset ──► index lookup ─┴─► pread whole batches (lock released)
//! ```
//!
//! All mutable state sits behind one short-held mutex; file I/O for reads happens after the lock
//! is released, on a shared file handle. Two watch channels publish progress: the log end offset
//! (for long-polling fetches) and the durable end offset (for `acks=all`), which the
//! [`Flusher`](super::flusher::Flusher) advances after each `fdatasync`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::config::{LogConfig, TimestampType};
use super::control::EndTxnMarker;
use super::producer_state::{ProducerStates, SequenceCheck};
use super::record_batch::{self, BatchHeader, Record};
use super::segment::{self, Segment};
use super::txn_index::{AbortedTxn, TxnIndex};
use crate::error::{Error, Result};
use crate::util::now_ms;

/// The largest decompressed batch the broker will decode (for compaction and inspection).
pub const MAX_UNCOMPRESSED_BATCH: usize = 64 << 20;

/// Result of appending one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Log-append timestamp, or -1 when the topic keeps create time.
    pub log_append_time: i64,
    /// The batch was a retry of one already in the log; nothing was written.
    pub duplicate: bool,
}

/// Data returned by a fetch: whole batches, as stored.
#[derive(Debug, Clone)]
pub struct FetchData {
    /// Concatenated record batches; the first contains the fetch offset.
    pub batches: Bytes,
    /// Offset after the last record in the log.
    pub high_watermark: i64,
    /// Offset below which every transaction is decided (= the high watermark when no
    /// transaction is open).
    pub last_stable_offset: i64,
    /// First offset still available.
    pub log_start_offset: i64,
    /// For read_committed fetches: `(producer id, first offset)` of the aborted transactions
    /// overlapping the returned batches, which the client must drop. `None` at read_uncommitted.
    pub aborted: Option<Vec<(i64, i64)>>,
}

/// Which records a fetch may return (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything up to the high watermark, including open and aborted transactions.
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted-transaction list.
    ReadCommitted,
}

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still in the log.
    Earliest,
    /// The offset the next record will get.
    Latest,
    /// The first offset whose record timestamp is ≥ this (ms).
    Timestamp(i64),
    /// The offset of the record with the largest timestamp.
    MaxTimestamp,
}

/// Summary of a partition for describe commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    /// Partition index.
    pub partition: i32,
    /// First available offset.
    pub log_start_offset: i64,
    /// Offset after the last record.
    pub log_end_offset: i64,
    /// Offset up to which data is known durable.
    pub durable_offset: i64,
    /// Last stable offset: below it every transaction is decided.
    pub last_stable_offset: i64,
    /// Transactions open in this partition: `(producer id, first offset)`.
    pub open_transactions: Vec<(i64, i64)>,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Number of segment files.
    pub segments: usize,
}

pub(crate) struct LogState {
    pub segments: BTreeMap<i64, Segment>,
    pub log_start_offset: i64,
    pub next_offset: i64,
    pub config: LogConfig,
    pub producers: ProducerStates,
    /// Aborted transactions, for read_committed fetches and compaction.
    pub aborted: TxnIndex,
    /// Rolled segments not yet fsynced.
    pub unflushed: Vec<Arc<File>>,
    pub deleted: bool,
    /// Compaction has seen every rolled segment below this offset…
    pub compacted_through: i64,
    /// …unless it kept tombstones or young records that a later pass may remove.
    pub compaction_pending: bool,
}

impl LogState {
    fn active(&mut self) -> &mut Segment {
        // A log always has at least one segment.
        self.segments.values_mut().next_back().expect("log has an active segment")
    }

    fn total_size(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// The last stable offset: the first offset of the oldest open transaction, or the log end
    /// when none is open; never below the log start.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        let first_unstable = self.producers.first_unstable_offset().unwrap_or(self.next_offset);
        first_unstable.min(self.next_offset).max(self.log_start_offset)
    }

    /// Applies a marker that sits at `offset`: closes the producer's transaction and, for an
    /// abort of a transaction that wrote here, indexes it. The one place markers change state,
    /// for appends and for recovery replay alike.
    fn apply_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: EndTxnMarker,
        offset: i64,
    ) -> Result<()> {
        let first = self.producers.complete_txn(producer_id, epoch, marker.coordinator_epoch);
        if let (false, Some(first_offset)) = (marker.commit, first) {
            let after = offset + 1;
            let lso = self.producers.first_unstable_offset().map_or(after, |f| f.min(after));
            self.aborted.append(AbortedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
                last_stable_offset: lso,
            })?;
        }
        Ok(())
    }

    /// Replays one stored batch into the producer state (recovery).
    fn replay(&mut self, header: &BatchHeader, bytes: &Bytes) -> Result<()> {
        if header.is_control() {
            if let Some(marker) = EndTxnMarker::decode(header, bytes)? {
                self.apply_marker(header.producer_id, header.producer_epoch, marker, header.base_offset)?;
            }
        } else {
            self.producers.record(header, header.base_offset);
        }
        Ok(())
    }
}

/// The append-only log of one topic partition.
pub struct PartitionLog {
    topic: String,
    partition: i32,
    dir: PathBuf,
    pub(crate) state: Mutex<LogState>,
    end_offset: watch::Sender<i64>,
    durable_offset: watch::Sender<i64>,
    dirty: AtomicBool,
    /// Set for good after a storage error (fail-stop): see [`PartitionLog::take_offline`].
    offline: AtomicBool,
    fsyncs: std::sync::atomic::AtomicU64,
    pub(crate) flush_requests: Arc<super::flusher::FlushQueue>,
    /// Test hook: the next fsync fails as if the disk had reported EIO.
    #[cfg(test)]
    pub(crate) fail_next_sync: AtomicBool,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartitionLog({}-{})", self.topic, self.partition)
    }
}

const RECOVERY_POINT: &str = "recovery-point";
const LOG_START: &str = "log-start-offset";
const PRODUCER_SNAPSHOT: &str = "producer-state.json";

impl PartitionLog {
    /// Opens (or creates) the log in `dir`.
    ///
    /// After an unclean shutdown (`clean == false`) every segment at or after the recovery point
    /// is scanned batch by batch; the first torn or corrupt batch truncates the log there and
    /// later segments are removed. Damage is logged with its file and byte position.
    pub(crate) fn open(
        topic: &str,
        partition: i32,
        dir: &Path,
        config: LogConfig,
        clean: bool,
        flush_requests: Arc<super::flusher::FlushQueue>,
    ) -> Result<Arc<PartitionLog>> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let now = now_ms();
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))? {
            let path = entry.map_err(Error::io(format!("listing {}", dir.display())))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.ends_with(".cleaned") || name.ends_with(".tmp") {
                // Leftovers of an interrupted compaction or index write.
                let _ = std::fs::remove_file(&path);
            } else if let Some(stem) = name.strip_suffix(".log")
                && let Ok(base) = stem.parse::<i64>()
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let recovery_point = if clean { i64::MAX } else { read_i64(&dir.join(RECOVERY_POINT)).unwrap_or(0) };
        let mut segments = BTreeMap::new();
        let snapshot = ProducerStates::load(&dir.join(PRODUCER_SNAPSHOT));
        let mut truncated = false;
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(format!("{}.log", segment::file_stem(base)));
            if truncated {
                tracing::warn!(path = %path.display(), "removing segment after damaged data");
                Segment::delete_files(&path);
                continue;
            }
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let verify = !clean && next_base > recovery_point;
            let active = i + 1 == bases.len();
            let (seg, damage) = Segment::open(&path, base, verify, active, config.index_interval_bytes, now)?;
            if let Some(err) = damage {
                tracing::warn!(error = %err, "truncated damaged log tail during recovery");
                truncated = true;
            }
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            segments.insert(0, Segment::create(dir, 0, now)?);
        }
        let first_base = *segments.keys().next().unwrap_or(&0);
        let next_offset = segments.values().next_back().map_or(0, |s| s.next_offset);
        let log_start_offset =
            read_i64(&dir.join(LOG_START)).unwrap_or(first_base).clamp(first_base, next_offset);
        // Producer state: the snapshot, plus a replay of what was appended after it. A snapshot
        // without an offset is trusted only after a clean shutdown; one ahead of the recovered
        // log (its tail was damaged) is discarded.
        let (producers, replay_from) = match snapshot {
            Some((states, Some(offset))) if offset <= next_offset => (states, offset),
            Some((states, None)) if clean => (states, next_offset),
            _ => (ProducerStates::default(), first_base),
        };
        let mut aborted = TxnIndex::open(dir)?;
        aborted.truncate_from(replay_from)?;
        let mut state = LogState {
            segments,
            log_start_offset,
            next_offset,
            config,
            producers,
            aborted,
            unflushed: Vec::new(),
            deleted: false,
            compacted_through: 0,
            compaction_pending: true,
        };
        replay_producers(&mut state, replay_from)?;
        state.aborted.trim_below(log_start_offset)?;
        let log = Arc::new(PartitionLog {
            topic: topic.to_string(),
            partition,
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            end_offset: watch::Sender::new(next_offset),
            // Whatever survived recovery is on disk; a clean shutdown fsynced everything.
            durable_offset: watch::Sender::new(next_offset),
            dirty: AtomicBool::new(!clean),
            offline: AtomicBool::new(false),
            fsyncs: std::sync::atomic::AtomicU64::new(0),
            flush_requests,
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
        });
        Ok(log)
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition index.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates and appends one record batch (as sent by a Kafka producer), assigning offsets.
    ///
    /// The batch must be a single RecordBatch v2 with a valid CRC, at most the topic's
    /// `max.message.bytes`. Its base offset is overwritten; its other bytes are stored unchanged
    /// (unless the topic uses `LogAppendTime`). Batches from Kafka clients first go through
    /// [`PartitionLog::validate_client_batch`].
    pub fn append(&self, batch: BytesMut) -> Result<AppendInfo> {
        self.append_limited(batch, None)
    }

    /// Runs the produce checks of [`validate`](super::validate) on a client's batch with this
    /// topic's configuration; `max_bytes` is the batch limit in force (the topic's
    /// `max.message.bytes`, or the broker's `message.max.bytes`). Call it before
    /// [`PartitionLog::append_limited`], outside any lock: it decodes every record.
    pub fn validate_client_batch(&self, batch: &mut BytesMut, max_bytes: usize) -> Result<BatchHeader> {
        let config = self.config();
        super::validate::validate_client_batch(batch, &config, max_bytes, now_ms())
    }

    /// Like [`PartitionLog::append`], with `max_bytes` instead of the topic's
    /// `max.message.bytes` when given.
    pub fn append_limited(&self, mut batch: BytesMut, max_bytes: Option<usize>) -> Result<AppendInfo> {
        let header = BatchHeader::parse(&batch)?;
        if header.size != batch.len() {
            return Err(Error::InvalidRecordBatch(format!(
                "expected exactly one batch of {} bytes, got {} bytes",
                header.size,
                batch.len()
            )));
        }
        header.verify_crc(&batch)?;
        if header.records_count == 0 {
            return Err(Error::InvalidRecordBatch("batch holds no records".to_string()));
        }
        if header.is_control() {
            return Err(Error::InvalidRecordBatch(
                "control batches are written by the transaction coordinator, not by producers".to_string(),
            ));
        }
        let now = now_ms();
        let mut state = self.state.lock();
        if state.deleted {
            return Err(Error::UnknownTopicOrPartition(self.topic.clone()));
        }
        self.check_online()?;
        let max = max_bytes.unwrap_or(state.config.max_message_bytes);
        if batch.len() > max {
            return Err(Error::MessageTooLarge { size: batch.len(), max });
        }
        if let SequenceCheck::Duplicate(base) = state.producers.check(&header)? {
            return Ok(AppendInfo {
                base_offset: base,
                last_offset: base + header.last_offset_delta as i64,
                log_append_time: -1,
                duplicate: true,
            });
        }
        let base_offset = state.next_offset;
        self.maybe_roll(&mut state, batch.len() as u64, header.last_offset_delta, now)?;
        record_batch::set_base_offset(&mut batch, base_offset);
        let log_append_time = if state.config.timestamp_type == TimestampType::LogAppendTime {
            record_batch::set_log_append_time(&mut batch, header.size, now);
            now
        } else {
            -1
        };
        let mut stored = header.clone();
        stored.base_offset = base_offset;
        if log_append_time >= 0 {
            stored.max_timestamp = now;
        }
        let interval = state.config.index_interval_bytes;
        let written = state.active().append(&batch, &stored, interval);
        self.fail_stop_on(written)?;
        state.next_offset = stored.next_offset();
        state.producers.record(&stored, base_offset);
        let end = state.next_offset;
        drop(state);
        self.dirty.store(true, Ordering::Release);
        self.end_offset.send_replace(end);
        Ok(AppendInfo { base_offset, last_offset: stored.last_offset(), log_append_time, duplicate: false })
    }

    /// Appends a transaction marker for `producer_id` at `epoch`, closing its transaction in
    /// this partition. Returns the marker's offset.
    ///
    /// A marker older than the producer's epoch is refused (INVALID_PRODUCER_EPOCH); a marker
    /// for a producer with no open transaction here is still written (a coordinator retry, or
    /// a partition the transaction added but never wrote to), as Kafka does.
    pub fn append_marker(&self, producer_id: i64, epoch: i16, marker: EndTxnMarker) -> Result<i64> {
        let now = now_ms();
        let mut batch = marker.encode(producer_id, epoch, now);
        let header = BatchHeader::parse(&batch)?;
        let mut state = self.state.lock();
        if state.deleted {
            return Err(Error::UnknownTopicOrPartition(self.topic.clone()));
        }
        self.check_online()?;
        state.producers.check_marker(producer_id, epoch)?;
        let offset = state.next_offset;
        self.maybe_roll(&mut state, batch.len() as u64, 0, now)?;
        record_batch::set_base_offset(&mut batch, offset);
        let mut stored = header;
        stored.base_offset = offset;
        let interval = state.config.index_interval_bytes;
        let written = state.active().append(&batch, &stored, interval);
        self.fail_stop_on(written)?;
        state.next_offset = offset + 1;
        state.apply_marker(producer_id, epoch, marker, offset)?;
        drop(state);
        self.dirty.store(true, Ordering::Release);
        self.end_offset.send_replace(offset + 1);
        Ok(offset)
    }

    /// The last stable offset (see [`FetchData::last_stable_offset`]).
    pub fn last_stable_offset(&self) -> i64 {
        self.state.lock().last_stable_offset()
    }

    fn maybe_roll(&self, state: &mut LogState, incoming: u64, delta: i32, now: i64) -> Result<()> {
        let config = state.config.clone();
        let next = state.next_offset;
        let active = state.active();
        let too_big = active.size > 0 && active.size + incoming > config.segment_bytes;
        let too_old = active.size > 0 && now - active.created_ms >= config.segment_ms;
        let offsets_full = next + delta as i64 - active.base_offset >= u32::MAX as i64;
        let too_large_index = active.size + incoming > u32::MAX as u64;
        if !(too_big || too_old || offsets_full || too_large_index) {
            return Ok(());
        }
        active.write_indexes()?;
        let old_file = active.file.clone();
        state.unflushed.push(old_file);
        let seg = Segment::create(&self.dir, next, now)?;
        sync_dir(&self.dir)?;
        state.segments.insert(next, seg);
        Ok(())
    }

    /// Reads whole batches starting with the one that contains `offset`, up to `max_bytes`
    /// (always at least one batch, as KIP-74 requires), at read_uncommitted.
    ///
    /// `offset` equal to the log end gives empty data; outside `[log start, log end]` is
    /// [`Error::OffsetOutOfRange`].
    pub fn fetch(&self, offset: i64, max_bytes: usize) -> Result<FetchData> {
        self.fetch_isolated(offset, max_bytes, Isolation::ReadUncommitted)
    }

    /// Like [`Self::fetch`], at the given isolation level: read_committed returns only batches
    /// below the last stable offset, and the aborted transactions among them.
    pub fn fetch_isolated(&self, offset: i64, max_bytes: usize, isolation: Isolation) -> Result<FetchData> {
        self.check_online()?;
        let committed = isolation == Isolation::ReadCommitted;
        let mut cursor = offset;
        loop {
            let (file, path, start_pos, end_pos, next_base, hw, lso, log_start) = {
                let state = self.state.lock();
                let hw = state.next_offset;
                let lso = state.last_stable_offset();
                let log_start = state.log_start_offset;
                if offset < log_start || offset > hw {
                    return Err(Error::OffsetOutOfRange {
                        topic: self.topic.clone(),
                        partition: self.partition,
                        offset,
                        log_start,
                        log_end: hw,
                    });
                }
                let limit = if committed { lso } else { hw };
                if cursor >= limit {
                    drop(state);
                    return Ok(self.fetched(Bytes::new(), offset, limit, hw, lso, log_start, committed));
                }
                let Some((_, seg)) = state.segments.range(..=cursor).next_back() else {
                    // Offset below the first segment (after DeleteRecords): start at the first.
                    let first = state.segments.keys().next().copied().unwrap_or(hw);
                    cursor = first.max(cursor + 1);
                    continue;
                };
                let pos = seg.offset_index.lookup(seg.relative(cursor));
                let next_base = state.segments.range(seg.base_offset + 1..).next().map(|(&b, _)| b);
                (seg.file.clone(), seg.path.clone(), pos as u64, seg.size, next_base, hw, lso, log_start)
            };
            let limit = if committed { lso } else { hw };
            let (data, upper) =
                read_batches_from(&file, &path, start_pos, end_pos, cursor, max_bytes, limit)?;
            if !data.is_empty() {
                return Ok(self.fetched(data, offset, upper, hw, lso, log_start, committed));
            }
            // The offset fell into a gap at the end of a segment (compaction); move on.
            match next_base {
                Some(b) if b < limit => cursor = b,
                _ => return Ok(self.fetched(Bytes::new(), offset, limit, hw, lso, log_start, committed)),
            }
        }
    }

    /// Assembles a fetch result; `upper` is the offset after the returned data.
    #[allow(clippy::too_many_arguments)]
    fn fetched(
        &self,
        batches: Bytes,
        offset: i64,
        upper: i64,
        hw: i64,
        lso: i64,
        log_start: i64,
        committed: bool,
    ) -> FetchData {
        let aborted = committed.then(|| {
            if batches.is_empty() { Vec::new() } else { self.state.lock().aborted.collect(offset, upper) }
        });
        FetchData {
            batches,
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
            aborted,
        }
    }

    /// Decoded records from `offset`, reading at most `max_bytes` of batches, and the high
    /// watermark. Records below `offset` in the first batch are skipped; control records are
    /// omitted.
    ///
    /// The result is empty only when no record at or after `offset` exists below the high
    /// watermark. Compaction keeps batch boundaries, so a batch may hold no record at or after
    /// `offset` (its tail was compacted away), and a batch may hold only a transaction marker:
    /// such batches are passed over here, so a reader that continues from its last record's
    /// offset + 1 can never stall at a gap.
    pub fn read_records(&self, offset: i64, max_bytes: usize) -> Result<(Vec<Record>, i64)> {
        let mut cursor = offset;
        loop {
            let data = self.fetch(cursor, max_bytes)?;
            let mut out = Vec::new();
            let mut next = cursor;
            for item in segment::batches(&data.batches) {
                let (header, bytes) = item?;
                next = next.max(header.next_offset());
                if header.is_control() {
                    continue;
                }
                for r in header.records(&bytes, MAX_UNCOMPRESSED_BATCH)? {
                    if r.offset >= offset {
                        out.push(r);
                    }
                }
            }
            // `next > cursor` whenever batches came back, so this loop always advances.
            if !out.is_empty() || next <= cursor || next >= data.high_watermark {
                return Ok((out, data.high_watermark));
            }
            cursor = next;
        }
    }

    /// Looks up an offset by position or timestamp. Returns `(offset, timestamp)`, with
    /// timestamp -1 for `Earliest`/`Latest`; `None` when no record has a timestamp ≥ the target.
    pub fn list_offset(&self, spec: OffsetSpec) -> Result<Option<(i64, i64)>> {
        let state = self.state.lock();
        match spec {
            OffsetSpec::Earliest => Ok(Some((state.log_start_offset, -1))),
            OffsetSpec::Latest => Ok(Some((state.next_offset, -1))),
            OffsetSpec::MaxTimestamp => {
                let Some(seg) =
                    state.segments.values().filter(|s| s.size > 0).max_by_key(|s| s.max_timestamp)
                else {
                    return Ok(None);
                };
                let target = seg.max_timestamp;
                let (file, path, size, start) =
                    (seg.file.clone(), seg.path.clone(), seg.size, state.log_start_offset);
                drop(state);
                let found = scan_for_timestamp(&file, &path, 0, size, target, start, true)?;
                Ok(found)
            }
            OffsetSpec::Timestamp(target) => {
                let candidates: Vec<_> = state
                    .segments
                    .values()
                    .filter(|s| s.max_timestamp >= target)
                    .map(|s| (s.file.clone(), s.path.clone(), s.time_index.lookup(target) as u64, s.size))
                    .collect();
                let start = state.log_start_offset;
                drop(state);
                for (file, path, pos, size) in candidates {
                    if let Some(found) = scan_for_timestamp(&file, &path, pos, size, target, start, false)? {
                        return Ok(Some(found));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Waits until the log end offset exceeds `offset`, or the timeout passes.
    /// Returns the log end offset.
    pub async fn wait_for_data(&self, offset: i64, timeout: Duration) -> i64 {
        let mut rx = self.end_offset.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|end| *end > offset)).await;
        *rx.borrow()
    }

    /// A receiver of the log end offset, for callers that wait on several partitions.
    pub fn subscribe_end_offset(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
    }

    /// Waits until every offset below `end_offset` is on stable storage (fsynced).
    /// Many waiters are served by one fsync (group commit).
    pub async fn wait_durable(self: &Arc<Self>, end_offset: i64) -> Result<()> {
        let mut rx = self.durable_offset.subscribe();
        if *rx.borrow() >= end_offset {
            return Ok(());
        }
        self.check_online()?;
        self.flush_requests.request(self.clone());
        let durable = *rx
            .wait_for(|d| *d >= end_offset || self.offline.load(Ordering::Acquire))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        if durable < end_offset {
            // The partition went offline before this data was durable: never acknowledge it.
            return Err(self.offline_error());
        }
        Ok(())
    }

    /// Whether the partition stopped after a storage error.
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    fn check_online(&self) -> Result<()> {
        if self.is_offline() { Err(self.offline_error()) } else { Ok(()) }
    }

    fn offline_error(&self) -> Error {
        Error::StorageOffline(format!("{}-{}", self.topic, self.partition))
    }

    /// Fail-stop: after an fsync error the kernel may already have dropped the dirty pages, so
    /// a retried fsync could "succeed" without the data ever reaching the disk (the 2018
    /// PostgreSQL fsync finding). The partition therefore stops for good: appends, fetches and
    /// waiting `acks=all` producers get KAFKA_STORAGE_ERROR, the durable offset never moves
    /// again, and the next start recovers from the last fsynced recovery point, keeping exactly
    /// the batches that are intact on disk — a superset of everything acknowledged.
    pub(crate) fn take_offline(&self, reason: &Error) {
        if !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(log = ?self, error = %reason, "storage error: partition taken offline until restart");
        }
        // Wake `acks=all` waiters so they answer with an error instead of hanging.
        self.durable_offset.send_modify(|_| {});
    }

    /// Takes the partition offline if a segment write failed without being undone.
    fn fail_stop_on(&self, written: Result<()>) -> Result<()> {
        if let Err(e) = &written
            && matches!(e, Error::StorageOffline(_))
        {
            self.take_offline(e);
        }
        written
    }

    /// Offset below which everything is durable.
    pub fn durable_offset(&self) -> i64 {
        *self.durable_offset.borrow()
    }

    /// Fsyncs appended data and advances the durable offset. Called by the flusher.
    pub(crate) fn flush(&self) -> Result<()> {
        if self.is_offline() {
            return Err(self.offline_error());
        }
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let (active, rolled, end, producers) = {
            let mut state = self.state.lock();
            if state.deleted {
                return Ok(());
            }
            let unflushed = std::mem::take(&mut state.unflushed);
            (state.active().file.clone(), unflushed, state.next_offset, state.producers.clone())
        };
        for f in rolled.iter().chain(std::iter::once(&active)) {
            if let Err(e) = self.sync_file(f) {
                let e =
                    Error::Io { context: format!("fsync of {}-{}", self.topic, self.partition), source: e };
                self.take_offline(&e);
                return Err(e);
            }
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.state.lock().aborted.sync() {
            self.take_offline(&e);
            return Err(e);
        }
        // The snapshot describes the log below `end`, which is now durable; recovery replays
        // only what comes after it.
        if let Err(e) = producers.save(&self.dir.join(PRODUCER_SNAPSHOT), end) {
            tracing::warn!(log = ?self, error = %e, "writing the producer snapshot failed");
        }
        self.durable_offset.send_if_modified(|d| {
            if end > *d {
                *d = end;
                true
            } else {
                false
            }
        });
        let _ = write_i64(&self.dir.join(RECOVERY_POINT), end);
        Ok(())
    }

    fn sync_file(&self, file: &File) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        file.sync_data()
    }

    /// How many flush rounds (fsyncs of the active segment) this log has done since it opened.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Whether there is appended data not yet fsynced.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Moves the log start offset forward (Kafka's DeleteRecords). Whole segments below it are
    /// deleted; the rest become unreadable below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let mut state = self.state.lock();
        let target = if offset < 0 { state.next_offset } else { offset };
        if target > state.next_offset {
            return Err(Error::OffsetOutOfRange {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: target,
                log_start: state.log_start_offset,
                log_end: state.next_offset,
            });
        }
        if target > state.log_start_offset {
            state.log_start_offset = target;
            write_i64(&self.dir.join(LOG_START), target)?;
        }
        let removed = remove_segments_below(&mut state, target);
        let start = state.log_start_offset;
        state.aborted.trim_below(start)?;
        drop(state);
        for path in removed {
            Segment::delete_files(&path);
        }
        Ok(start)
    }

    /// Statistics for describe commands.
    pub fn stats(&self) -> PartitionStats {
        let state = self.state.lock();
        PartitionStats {
            partition: self.partition,
            log_start_offset: state.log_start_offset,
            log_end_offset: state.next_offset,
            durable_offset: self.durable_offset(),
            last_stable_offset: state.last_stable_offset(),
            open_transactions: state.producers.open_transactions(),
            size_bytes: state.total_size(),
            segments: state.segments.len(),
        }
    }

    /// Applies a new configuration (after AlterConfigs).
    pub fn set_config(&self, config: LogConfig) {
        self.state.lock().config = config;
    }

    /// Current configuration.
    pub fn config(&self) -> LogConfig {
        self.state.lock().config.clone()
    }

    /// Flushes and writes index files and the producer snapshot for a clean shutdown.
    pub(crate) fn close(&self) -> Result<()> {
        self.dirty.store(true, Ordering::Release);
        self.flush()?;
        let state = self.state.lock();
        if state.deleted {
            return Ok(());
        }
        if let Some(active) = state.segments.values().next_back() {
            active.write_indexes()?;
        }
        state.producers.save(&self.dir.join(PRODUCER_SNAPSHOT), state.next_offset)?;
        write_i64(&self.dir.join(RECOVERY_POINT), state.next_offset)?;
        Ok(())
    }

    /// Marks the log deleted; later appends fail and background work skips it.
    pub(crate) fn mark_deleted(&self) {
        self.state.lock().deleted = true;
        // Wake anyone waiting on durability; the data is going away.
        self.durable_offset.send_replace(i64::MAX);
    }
}

/// Removes whole segments that end at or below `offset` (never the active one).
pub(crate) fn remove_segments_below(state: &mut LogState, offset: i64) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    while state.segments.len() > 1 {
        let (&base, seg) = state.segments.iter().next().expect("non-empty");
        if seg.next_offset > offset {
            break;
        }
        removed.push(seg.path.clone());
        state.segments.remove(&base);
    }
    if let Some(&first) = state.segments.keys().next() {
        state.log_start_offset = state.log_start_offset.max(first);
    }
    removed
}

/// Replays the batches at and after `from` into the producer state and the aborted index.
fn replay_producers(state: &mut LogState, from: i64) -> Result<()> {
    let segments: Vec<_> = state
        .segments
        .values()
        .filter(|s| s.next_offset > from && s.size > 0)
        .map(|s| (s.file.clone(), s.path.clone(), s.offset_index.lookup(s.relative(from)) as u64, s.size))
        .collect();
    for (file, path, pos, size) in segments {
        segment::for_each_batch(&file, &path, pos, size, |_, header, bytes| {
            if header.base_offset >= from {
                state.replay(&header, &bytes)?;
            }
            Ok(true)
        })?;
    }
    Ok(())
}

/// Reads whole batches from a segment region, starting with the batch containing `offset` and
/// stopping before the first batch at or after `limit`. Returns the data and the offset after
/// it.
fn read_batches_from(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    offset: i64,
    max_bytes: usize,
    limit: i64,
) -> Result<(Bytes, i64)> {
    let mut pos = start;
    let mut header = [0u8; record_batch::BATCH_HEADER_LEN];
    // Skip batches that end before `offset` by reading headers only.
    while pos < end {
        if end - pos < header.len() as u64 {
            return Err(corrupt(path, pos, "truncated batch header"));
        }
        std::os::unix::fs::FileExt::read_exact_at(file, &mut header, pos)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let h = BatchHeader::parse_prefix(&header).map_err(|e| corrupt(path, pos, &e.to_string()))?;
        if h.next_offset() > offset {
            if h.base_offset >= limit {
                return Ok((Bytes::new(), offset));
            }
            break;
        }
        pos += h.size as u64;
    }
    if pos >= end {
        return Ok((Bytes::new(), offset));
    }
    let want = ((end - pos) as usize).min(max_bytes.max(header.len()));
    let mut data = segment::read_at(file, path, pos, want)?;
    // Cut at the last whole batch below `limit`, but always return at least the first batch.
    let mut used = 0usize;
    let mut upper = offset;
    loop {
        if data.len() - used < record_batch::BATCH_HEADER_LEN {
            break;
        }
        let h = BatchHeader::parse_prefix(&data[used..])
            .map_err(|e| corrupt(path, pos + used as u64, &e.to_string()))?;
        if h.base_offset >= limit {
            break;
        }
        if used + h.size > data.len() {
            if used == 0 {
                // The first batch is larger than max_bytes: return it whole.
                data = segment::read_at(file, path, pos, h.size)?;
                used = h.size;
                upper = h.next_offset();
            }
            break;
        }
        used += h.size;
        upper = h.next_offset();
    }
    Ok((data.slice(..used), upper))
}

/// Scans batches from `pos` for the first record with timestamp ≥ `target` (or, with
/// `exact`, equal to it). Returns `(offset, timestamp)`.
fn scan_for_timestamp(
    file: &File,
    path: &Path,
    pos: u64,
    size: u64,
    target: i64,
    log_start: i64,
    exact: bool,
) -> Result<Option<(i64, i64)>> {
    let mut found = None;
    segment::for_each_batch(file, path, pos, size, |_, header, bytes| {
        if header.max_timestamp < target || header.is_control() {
            return Ok(true);
        }
        for r in header.records(&bytes, MAX_UNCOMPRESSED_BATCH)? {
            let hit = if exact { r.timestamp == target } else { r.timestamp >= target };
            if hit && r.offset >= log_start {
                found = Some((r.offset, r.timestamp));
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(found)
}

fn corrupt(path: &Path, position: u64, reason: &str) -> Error {
    Error::Corrupt { path: path.to_path_buf(), position, reason: reason.to_string() }
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write_i64(path: &Path, value: i64) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, value.to_string()).map_err(Error::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!("renaming {}", tmp.display())))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(format!("syncing directory {}", dir.display())))
}

#[cfg(test)]
mod fail_stop_tests {
    use super::*;
    use crate::log::record_batch::{NewRecord, RecordBatchBuilder};
    use crate::{Broker, BrokerConfig, TopicConfig};

    fn batch(value: &str) -> BytesMut {
        let mut b = RecordBatchBuilder::new(1);
        b.push(&NewRecord::new(Some("k"), Some(value.to_string())));
        b.finish()
    }

    #[test]
    fn a_failed_fsync_takes_the_partition_offline_and_never_acknowledges() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        broker.create_topic("t", 1, TopicConfig::default()).unwrap();
        let log = broker.partition("t", 0).unwrap();
        let first = log.append(batch("durable")).unwrap();
        rt.block_on(log.wait_durable(first.last_offset + 1)).unwrap();
        // The disk reports EIO on the next fsync: the acks=all waiter gets an error, not an ack,
        // and a retried fsync never gets the chance to "succeed" over lost pages.
        log.fail_next_sync.store(true, Ordering::Release);
        let second = log.append(batch("never acknowledged")).unwrap();
        let waited = rt.block_on(log.wait_durable(second.last_offset + 1));
        assert!(waited.is_err(), "acknowledged after a failed fsync");
        assert_eq!(waited.unwrap_err().kafka_code(), 56, "KAFKA_STORAGE_ERROR");
        assert!(log.is_offline());
        assert_eq!(log.durable_offset(), first.last_offset + 1, "the durable offset stops");
        // Nothing more is accepted or served, and no fsync "succeeds" later.
        assert!(matches!(log.append(batch("after")), Err(Error::StorageOffline(_))));
        assert!(matches!(log.fetch(0, 1 << 20), Err(Error::StorageOffline(_))));
        assert!(log.flush().is_err());
        assert!(rt.block_on(log.wait_durable(second.last_offset + 1)).is_err());
        // Closing reports the failure and leaves no clean-shutdown marker: the next open
        // recovers from the last durable point.
        assert!(broker.close().is_err());
        assert!(!dir.path().join(".clean-shutdown").exists());
        drop((log, broker));
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        let records = broker.read("t", 0, 0, 1 << 20).unwrap();
        assert_eq!(records[0].value.as_deref(), Some(b"durable".as_slice()), "every acknowledged record");
        // The partition serves again after the restart.
        let third = broker.partition("t", 0).unwrap().append(batch("again")).unwrap();
        assert!(third.last_offset >= 1);
        broker.close().unwrap();
    }
}
