//! [`FileSource`]: reads files (one, or a directory of them) into a topic, exactly once.
//!
//! ```text
//!  list files ─► for each file in order: read complete records from its offset
//!                  │  decode (debezium_json | json | csv) ──► records ─┐
//!                  │  malformed ──► dead-letter record ───────────────┤
//!                  ▼                                                  ▼
//!             FileState (offset, line)              route: murmur2(key) → partition,
//!                                                   headers: connector, file position
//!                                                   skip if already written (recovery)
//!                                                               │ encode into the partition's
//!                                                               │ batch; append it at 512 KiB
//!  every commit_interval: sync partitions ─► Checkpoint ─► _brook_connect_offsets
//! ```
//!
//! The hot path does no work per line that it can do per chunk: the [`RecordReader`] reads
//! 1 MiB at a time, cuts lines with `memchr` and checks UTF-8 once per chunk; a JSON line is
//! only checked to be JSON (fields are parsed only for `key` columns) and its raw bytes are
//! the record value; each record is encoded straight into its partition's
//! [`RecordBatchBuilder`] (headers written from a reused buffer, no allocation per record)
//! and every batch is appended with one call; record timestamps and counters are taken once
//! per chunk.
//!
//! The exactly-once argument is in [`crate::checkpoint`]. In `follow` mode the source polls for
//! new files and growing files forever; in `once` mode it stops when every file is read to its
//! end (a last line without a newline is then a record too).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use brook_broker::log::record_batch::RecordBatchBuilder;
use brook_broker::partitioner::{murmur2, partition_for_key};
use brook_broker::util::now_ms;

use crate::checkpoint::{COMPACTED, Checkpoint, FileCheckpoint, OffsetStore, Recovery};
use crate::config::{ConnectorKind, ErrorTolerance, Format, Mode, SourceConfig};
use crate::error::{Error, Result};
use crate::files::{FileEntry, list_files};
use crate::format::{Decoded, FileDecodeState, LineDecoder, Output};
use crate::metrics::{ConnectorState, Counter, Metrics};
use crate::position::{CDC_POSITION_HEADER, CONNECTOR_HEADER, LinePosition, SOURCE_HEADER, SourceHeader};
use crate::reader::{Framing, RawRecord, ReadFrom, RecordReader};
use crate::stop::StopSignal;
use brook_client::Cluster;

/// Append a partition's pending batch before a record would take it past this size (stays
/// well below the default `max.message.bytes`).
const PARTITION_FLUSH_BYTES: usize = 512 << 10;
/// Flush everything once this much is pending.
const TOTAL_FLUSH_BYTES: usize = 4 << 20;
/// Bytes read from a file per step.
const READ_BUDGET: usize = 1 << 20;
/// Largest record (key + value + headers) written; larger ones are dead-lettered.
const MAX_OUTPUT_RECORD: usize = 1_000_000;
/// Raw bytes of a malformed line kept in its dead-letter record.
const DLQ_RAW_BYTES: usize = 64 << 10;

/// How a connector's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Asked to stop.
    Stopped,
    /// A `once` connector reached the end of its input.
    Finished,
}

struct FileState {
    path: PathBuf,
    /// The path as text, as record headers and checkpoints name the file.
    path_text: String,
    inode: u64,
    offset: u64,
    line: u64,
    line_open: bool,
    size: u64,
    decode: FileDecodeState,
    /// Spreads null-keyed records of different files over partitions.
    path_hash: u32,
}

impl FileState {
    fn new(path: PathBuf, inode: u64) -> Self {
        let path_text = path.to_string_lossy().into_owned();
        let path_hash = murmur2(path_text.as_bytes()) as u32;
        FileState {
            path,
            path_text,
            inode,
            offset: 0,
            line: 0,
            line_open: false,
            size: 0,
            decode: FileDecodeState::default(),
            path_hash,
        }
    }
}

/// The dead-letter record of a malformed line.
#[derive(Serialize)]
struct DeadLetter<'a> {
    connector: &'a str,
    file: &'a str,
    line: u64,
    offset: u64,
    error: &'a str,
    raw: String,
    raw_bytes: u64,
    raw_truncated: bool,
}

/// Counter increments of one chunk of input, added to [`Metrics`] once per chunk.
#[derive(Debug, Default)]
struct Tally {
    records_in: u64,
    bytes_in: u64,
    records_out: u64,
    skipped: u64,
    duplicates: u64,
    dlq: u64,
}

impl Tally {
    fn add_to(&self, metrics: &Metrics) {
        metrics.observe_recent(self.records_in, self.dlq);
        for (counter, n) in [
            (Counter::RecordsIn, self.records_in),
            (Counter::BytesIn, self.bytes_in),
            (Counter::RecordsOut, self.records_out),
            (Counter::Skipped, self.skipped),
            (Counter::Duplicates, self.duplicates),
            (Counter::Dlq, self.dlq),
        ] {
            if n > 0 {
                metrics.add(counter, n);
            }
        }
    }
}

/// Creates a source's topic and dead-letter topic if they are missing; returns their partition
/// counts. The topic gets the configured partitions and topic configs; a change-event topic is
/// compacted unless the configs say otherwise (a changelog of rows).
pub fn ensure_topics(cluster: &dyn Cluster, config: &SourceConfig) -> Result<(i32, i32)> {
    let mut configs: Vec<(&str, &str)> =
        config.topic_configs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if config.format == Format::DebeziumJson && !configs.iter().any(|(k, _)| *k == COMPACTED[0].0) {
        configs.push(COMPACTED[0]);
    }
    let partitions = cluster.ensure_topic(&config.topic, config.partitions, &configs)?;
    let dlq_partitions = cluster.ensure_topic(&config.dlq_topic, 1, &[])?;
    Ok((partitions, dlq_partitions))
}

/// A file source connector.
pub struct FileSource {
    name: String,
    config: SourceConfig,
    cluster: Arc<dyn Cluster>,
    metrics: Arc<Metrics>,
    decoder: LineDecoder,
    reader: RecordReader,
    files: BTreeMap<String, FileState>,
    /// End offsets per topic and partition after this source's appends.
    ends: BTreeMap<String, Vec<i64>>,
    /// The checkpoint's end offsets, kept while the recovery window is being replayed.
    recovery_ends: Option<BTreeMap<String, Vec<i64>>>,
    recovery: Recovery,
    partitions: i32,
    dlq_partitions: i32,
    /// The batch being filled per (dead-letter topic?, partition).
    pending: BTreeMap<(bool, i32), RecordBatchBuilder>,
    unsynced: BTreeMap<(String, i32), i64>,
    dirty: bool,
    last_commit: Instant,
    /// An append that failed inside `route`, reported by the next flush.
    failed_append: Option<Error>,
    raw: Vec<RawRecord>,
    outputs: Vec<Output>,
    /// Reused for each record's `brook.source` header.
    header_buf: Vec<u8>,
    /// The timestamp of records without one: when their chunk was read.
    now: i64,
    /// Counters of the chunk being handled.
    tally: Tally,
}

impl FileSource {
    /// A source; nothing happens until [`FileSource::run`].
    pub fn new(name: &str, config: SourceConfig, cluster: Arc<dyn Cluster>, metrics: Arc<Metrics>) -> Self {
        let framing = match config.format {
            Format::Csv => Framing::Csv { delimiter: config.csv.delimiter },
            Format::DebeziumJson | Format::Json => Framing::Lines { json_tail: true },
        };
        FileSource {
            name: name.to_string(),
            decoder: LineDecoder::new(&config),
            reader: RecordReader::new(framing, config.max_record_bytes),
            config,
            cluster,
            metrics,
            files: BTreeMap::new(),
            ends: BTreeMap::new(),
            recovery_ends: None,
            recovery: Recovery::default(),
            partitions: 1,
            dlq_partitions: 1,
            pending: BTreeMap::new(),
            unsynced: BTreeMap::new(),
            dirty: false,
            last_commit: Instant::now(),
            failed_append: None,
            raw: Vec::new(),
            outputs: Vec::new(),
            header_buf: Vec::with_capacity(256),
            now: now_ms(),
            tally: Tally::default(),
        }
    }

    /// Runs until stopped (or, in `once` mode, until the input is read), committing progress.
    pub fn run(&mut self, stop: &StopSignal) -> Result<RunEnd> {
        self.metrics.set_state(ConnectorState::Starting);
        self.start()?;
        self.metrics.set_state(ConnectorState::Running);
        loop {
            if stop.is_stopped() {
                self.commit()?;
                return Ok(RunEnd::Stopped);
            }
            let entries = list_files(&self.config.path, &self.config.pattern, self.config.order)?;
            let mut progressed = false;
            for e in &entries {
                progressed |= match self.read_file(e, stop) {
                    Ok(progressed) => progressed,
                    Err(rejected @ Error::Rejected { .. }) => {
                        // Keep everything before the bad line: written and committed.
                        self.commit()?;
                        return Err(rejected);
                    }
                    Err(e) => return Err(e),
                };
                if stop.is_stopped() {
                    break;
                }
            }
            self.forget_missing(&entries);
            self.update_file_gauges();
            let due = self.last_commit.elapsed() >= self.config.commit_interval;
            if due || (!progressed && (self.dirty || !self.pending.is_empty())) {
                self.commit()?;
            }
            if !progressed && self.config.mode == Mode::Once && !stop.is_stopped() {
                self.commit()?;
                return Ok(RunEnd::Finished);
            }
            if !progressed && stop.sleep(self.config.poll_interval) {
                self.commit()?;
                return Ok(RunEnd::Stopped);
            }
        }
    }

    /// Creates topics, loads the checkpoint and scans for records written after it.
    fn start(&mut self) -> Result<()> {
        let c = self.cluster.as_ref();
        (self.partitions, self.dlq_partitions) = ensure_topics(c, &self.config)?;
        OffsetStore::ensure(c)?;
        let cp = OffsetStore::load(c, &self.name)?.unwrap_or_default();
        self.metrics.restore(&cp.metrics);
        for (path, f) in &cp.files {
            let mut st = FileState::new(PathBuf::from(path), f.inode);
            st.offset = f.offset;
            st.line = f.line;
            st.line_open = f.line_open;
            self.files.insert(path.clone(), st);
        }
        let mut recovery = Recovery::default();
        let empty = Vec::new();
        let topic_ends = cp.ends.get(&self.config.topic).unwrap_or(&empty);
        recovery.scan_topic(c, &self.name, &self.config.topic, topic_ends, self.decoder.key_states())?;
        let dlq_ends = cp.ends.get(&self.config.dlq_topic).unwrap_or(&empty);
        recovery.scan_topic(c, &self.name, &self.config.dlq_topic, dlq_ends, None)?;
        if !recovery.is_empty() {
            tracing::info!(connector = %self.name, "resuming after an interruption: skipping records already written");
            self.recovery_ends = Some(cp.ends.clone());
        }
        self.recovery = recovery;
        for (topic, n) in [
            (self.config.topic.clone(), self.partitions),
            (self.config.dlq_topic.clone(), self.dlq_partitions),
        ] {
            let mut ends = Vec::with_capacity(n as usize);
            for p in 0..n {
                ends.push(c.offsets(&topic, p)?.1);
            }
            self.ends.insert(topic, ends);
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Reads what is new in one file; returns whether anything was consumed.
    fn read_file(&mut self, e: &FileEntry, stop: &StopSignal) -> Result<bool> {
        let key = e.path.to_string_lossy().into_owned();
        let mut st = self.files.remove(&key).unwrap_or_else(|| {
            self.dirty = true;
            FileState::new(e.path.clone(), e.inode)
        });
        if st.inode != e.inode {
            tracing::warn!(connector = %self.name, file = %key, "file was replaced (new inode); reading it from the start");
            st = FileState::new(e.path.clone(), e.inode);
            self.dirty = true;
        }
        if e.size < st.offset {
            let msg = format!(
                "file {key} shrank to {} bytes below the read position {}; reading it again from the start \
                 (files must be append-only)",
                e.size, st.offset
            );
            tracing::warn!(connector = %self.name, "{msg}");
            self.metrics.set_error(msg);
            st = FileState::new(e.path.clone(), e.inode);
            self.recovery.forget_path(&key);
            self.dirty = true;
        }
        st.size = e.size;
        let result = self.read_new_records(&mut st, stop);
        self.files.insert(key, st);
        result
    }

    fn read_new_records(&mut self, st: &mut FileState, stop: &StopSignal) -> Result<bool> {
        if st.offset >= st.size {
            return Ok(false);
        }
        let file = match File::open(&st.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("opening an input file", &st.path)(e)),
        };
        let final_eof = self.config.mode == Mode::Once;
        if self.decoder.needs_header(&st.decode) && st.offset > 0 {
            self.load_header(&file, st, final_eof)?;
        }
        let mut progressed = false;
        while st.offset < st.size && !stop.is_stopped() {
            self.raw.clear();
            let from = ReadFrom {
                offset: st.offset,
                size: st.size,
                line_open: st.line_open,
                final_eof,
                budget: READ_BUDGET,
            };
            let end = self
                .reader
                .read(&file, from, &mut self.raw)
                .map_err(Error::io("reading an input file", &st.path))?;
            if self.raw.is_empty() && end.offset == st.offset && end.line_open == st.line_open {
                break;
            }
            let raw = std::mem::take(&mut self.raw);
            self.now = now_ms();
            self.tally = Tally::default();
            let handled = raw.iter().try_for_each(|rec| self.handle_record(st, rec));
            self.raw = raw;
            if let Err(Error::Rejected { offset, line, .. }) = &handled {
                // Stop in front of the bad line ('errors.tolerance'='none'): the lines before it
                // count and are committed by the caller; the bad one is read again next time.
                self.tally.add_to(&self.metrics);
                (st.offset, st.line, st.line_open) = (*offset, line - 1, false);
                self.dirty = true;
            }
            handled?;
            self.tally.add_to(&self.metrics);
            st.offset = end.offset;
            st.line_open = end.line_open;
            progressed = true;
            self.dirty = true;
            if self.pending.values().map(RecordBatchBuilder::size).sum::<usize>() >= TOTAL_FLUSH_BYTES {
                self.flush()?;
            }
            if self.last_commit.elapsed() >= self.config.commit_interval {
                // The checkpoint needs this file's state: commit with it in place.
                let key = st.path_text.clone();
                self.files.insert(key.clone(), std::mem::replace(st, FileState::new(PathBuf::new(), 0)));
                let r = self.commit();
                if let Some(s) = self.files.remove(&key) {
                    *st = s;
                }
                r?;
            }
        }
        self.recovery_progress();
        Ok(progressed)
    }

    /// Reads a CSV file's header when resuming in the middle of the file.
    fn load_header(&mut self, file: &File, st: &mut FileState, final_eof: bool) -> Result<()> {
        let mut first = Vec::new();
        let from = ReadFrom { offset: 0, size: st.size, line_open: false, final_eof, budget: 1 };
        self.reader.read(file, from, &mut first).map_err(Error::io("reading an input file", &st.path))?;
        if let Some(rec) = first.first() {
            // A malformed header was dead-lettered when first read; columns stay unknown then.
            let _ = self.decoder.decode(&rec.bytes, &mut st.decode, &mut Vec::new());
        }
        Ok(())
    }

    fn handle_record(&mut self, st: &mut FileState, rec: &RawRecord) -> Result<()> {
        let line = st.line + 1;
        st.line += 1;
        if self.config.format == Format::Csv {
            // A quoted CSV field may hold newlines; a line never does.
            st.line += memchr::memchr_iter(b'\n', &rec.bytes).count() as u64;
        }
        self.tally.records_in += 1;
        self.tally.bytes_in += rec.next.saturating_sub(rec.start);
        if let Some(total) = rec.too_long {
            let msg = format!(
                "record of {total} bytes exceeds max_record_bytes={}; raise 'max_record_bytes' to accept it",
                self.config.max_record_bytes
            );
            return self.dead_letter(st, rec, line, &msg);
        }
        if !rec.utf8 && self.config.format == Format::Json {
            // JSON text is UTF-8 (RFC 8259); checking the JSON below does not look inside strings.
            return self.dead_letter(st, rec, line, "not valid JSON: the line is not valid UTF-8");
        }
        let mut outputs = std::mem::take(&mut self.outputs);
        outputs.clear();
        let decoded = self.decoder.decode(&rec.bytes, &mut st.decode, &mut outputs);
        let result = match decoded {
            Ok(Decoded::Records) if outputs.is_empty() => {
                self.tally.skipped += 1;
                Ok(())
            }
            Ok(Decoded::Records) => {
                let oversized = outputs.iter().position(|o| output_size(o) > MAX_OUTPUT_RECORD);
                match oversized {
                    Some(i) => {
                        let msg = format!(
                            "the record made from this line is {} bytes, more than the {MAX_OUTPUT_RECORD} bytes a record may have",
                            output_size(&outputs[i])
                        );
                        self.dead_letter(st, rec, line, &msg)
                    }
                    None => {
                        for (i, o) in outputs.iter().enumerate() {
                            let pos = LinePosition { offset: rec.content_end, index: i as u32 };
                            self.route(st, line, pos, o, false);
                        }
                        self.tally.records_out += outputs.len() as u64;
                        Ok(())
                    }
                }
            }
            Ok(Decoded::Nothing | Decoded::Header) => {
                self.tally.skipped += 1;
                Ok(())
            }
            Ok(Decoded::Duplicate) => {
                self.tally.skipped += 1;
                self.tally.duplicates += 1;
                Ok(())
            }
            Err(e) => {
                let msg = if rec.unterminated && self.config.mode == Mode::Once {
                    format!(
                        "{e} (this is the file's last line and it has no newline: the file may be truncated)"
                    )
                } else {
                    e.0
                };
                self.dead_letter(st, rec, line, &msg)
            }
        };
        outputs.clear();
        self.outputs = outputs;
        result
    }

    fn dead_letter(&mut self, st: &FileState, rec: &RawRecord, line: u64, error: &str) -> Result<()> {
        if self.config.errors_tolerance == ErrorTolerance::None {
            // The line is not consumed: it is read again when the connector is retried.
            self.tally.records_in -= 1;
            self.tally.bytes_in -= rec.next.saturating_sub(rec.start);
            return Err(Error::Rejected {
                file: st.path.clone(),
                line,
                offset: rec.start,
                reason: error.to_string(),
            });
        }
        self.metrics.set_error(format!("{}:{line}: {error}", st.path_text));
        let keep = rec.bytes.len().min(DLQ_RAW_BYTES);
        let total = rec.too_long.unwrap_or(rec.content_end - rec.start);
        let letter = DeadLetter {
            connector: &self.name,
            file: &st.path_text,
            line,
            offset: rec.start,
            error,
            raw: String::from_utf8_lossy(&rec.bytes[..keep]).into_owned(),
            raw_bytes: total,
            raw_truncated: (keep as u64) < total,
        };
        let value = serde_json::to_vec(&letter).map_err(|e| Error::CorruptState {
            connector: self.name.clone(),
            reason: format!("cannot encode a dead-letter record: {e}"),
        })?;
        tracing::debug!(connector = %self.name, file = %st.path.display(), line, error, "dead-lettered");
        let out = Output { key: None, value: Some(Bytes::from(value)), timestamp: None, cdc_position: None };
        self.route(st, line, LinePosition { offset: rec.content_end, index: 0 }, &out, true);
        self.tally.dlq += 1;
        Ok(())
    }

    /// Encodes one record into its partition's pending batch, unless recovery found it
    /// already written.
    fn route(&mut self, st: &FileState, line: u64, pos: LinePosition, o: &Output, dlq: bool) {
        let (topic, n) = if dlq {
            (&self.config.dlq_topic, self.dlq_partitions)
        } else {
            (&self.config.topic, self.partitions)
        };
        let partition = match &o.key {
            Some(k) => partition_for_key(k, n),
            // Change events without a key must stay in order, across files too (a snapshot
            // file, then change files): one partition.
            None if self.config.format == Format::DebeziumJson => 0,
            None => ((u64::from(st.path_hash) + line) % n.max(1) as u64) as i32,
        };
        if !self.recovery.is_empty()
            && self.recovery.already_written(topic, partition, &st.path_text, st.inode, pos)
        {
            return;
        }
        self.header_buf.clear();
        SourceHeader::encode_into(&mut self.header_buf, &st.path_text, st.inode, pos);
        let cdc_position = o.cdc_position.as_ref().map(|p| p.encode());
        let slot = (dlq, partition);
        let size = output_size(o) + self.header_buf.len() + 64;
        if self.pending.get(&slot).is_some_and(|b| !b.is_empty() && b.size() + size > PARTITION_FLUSH_BYTES) {
            // One batch per append, kept under max.message.bytes.
            self.append_pending(slot);
        }
        let headers: [(&[u8], Option<&[u8]>); 3] = [
            (CONNECTOR_HEADER.as_bytes(), Some(self.name.as_bytes())),
            (SOURCE_HEADER.as_bytes(), Some(self.header_buf.as_slice())),
            (CDC_POSITION_HEADER.as_bytes(), cdc_position.as_deref().map(str::as_bytes)),
        ];
        let headers = &headers[..if cdc_position.is_some() { 3 } else { 2 }];
        let now = self.now;
        let batch = self
            .pending
            .entry(slot)
            .or_insert_with(|| RecordBatchBuilder::with_capacity(now, PARTITION_FLUSH_BYTES + size));
        batch.push_parts(
            Some(o.timestamp.unwrap_or(now)),
            o.key.as_deref(),
            o.value.as_deref(),
            headers.iter().copied(),
        );
        self.dirty = true;
    }

    /// Appends the pending batch of `slot` now. A failed append is kept for the next flush to
    /// report, and nothing more is appended until then: a later batch must not land in a
    /// partition after one that is missing.
    fn append_pending(&mut self, slot: (bool, i32)) {
        let Some(batch) = self.pending.remove(&slot) else { return };
        if self.failed_append.is_some() {
            return;
        }
        let topic = if slot.0 { self.config.dlq_topic.clone() } else { self.config.topic.clone() };
        if let Err(e) = self.append(&topic, slot.1, batch) {
            self.metrics.set_error(e.to_string());
            self.failed_append = Some(e);
        }
    }

    fn append(&mut self, topic: &str, partition: i32, batch: RecordBatchBuilder) -> Result<()> {
        let end = self.cluster.append_batch(topic, partition, batch)?;
        if let Some(ends) = self.ends.get_mut(topic)
            && let Some(slot) = ends.get_mut(partition as usize)
        {
            *slot = end;
        }
        self.unsynced.insert((topic.to_string(), partition), end);
        Ok(())
    }

    /// Appends every pending batch.
    fn flush(&mut self) -> Result<()> {
        if let Some(e) = self.failed_append.take() {
            self.pending.clear();
            return Err(e);
        }
        for ((dlq, partition), batch) in std::mem::take(&mut self.pending) {
            let topic = if dlq { self.config.dlq_topic.clone() } else { self.config.topic.clone() };
            self.append(&topic, partition, batch)?;
        }
        Ok(())
    }

    /// Makes appended records durable, then commits the position.
    fn commit(&mut self) -> Result<()> {
        self.flush()?;
        for ((topic, partition), end) in std::mem::take(&mut self.unsynced) {
            self.cluster.sync(&topic, partition, end)?;
        }
        // While the records found after the last checkpoint are being replayed, the input
        // state (file offsets, per-key state) and the partitions' end offsets cannot be
        // captured at one consistent point: keep the old checkpoint until the replay is over.
        if self.dirty && self.recovery_ends.is_none() {
            let cp = Checkpoint {
                kind: Some(ConnectorKind::Source),
                topic: Some(self.config.topic.clone()),
                files: self
                    .files
                    .iter()
                    .map(|(k, f)| {
                        let fc = FileCheckpoint {
                            inode: f.inode,
                            offset: f.offset,
                            line: f.line,
                            line_open: f.line_open,
                        };
                        (k.clone(), fc)
                    })
                    .collect(),
                ends: self.ends.clone(),
                positions: BTreeMap::new(),
                metrics: self.metrics.snapshot(),
                committed_ms: now_ms(),
            };
            OffsetStore::save(self.cluster.as_ref(), &self.name, &cp)?;
            self.dirty = false;
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Ends the recovery window once every file has been read past the records found in it.
    fn recovery_progress(&mut self) {
        if self.recovery_ends.is_none() {
            return;
        }
        let offsets: HashMap<String, (u64, u64)> =
            self.files.iter().map(|(k, f)| (k.clone(), (f.inode, f.offset))).collect();
        if self.recovery.passed(&offsets) {
            tracing::info!(connector = %self.name, "caught up with the records written before the interruption");
            self.recovery = Recovery::default();
            self.recovery_ends = None;
            self.dirty = true;
        }
    }

    /// Drops the state of files that were deleted (a file that reappears under the same name
    /// is a new file), and recovery marks that can never be passed.
    fn forget_missing(&mut self, entries: &[FileEntry]) {
        if !self.config.path.exists() {
            // The whole input is unavailable (unmounted?): keep every position.
            return;
        }
        let present: BTreeSet<String> =
            entries.iter().map(|e| e.path.to_string_lossy().into_owned()).collect();
        let before = self.files.len();
        self.files.retain(|k, _| present.contains(k));
        if before != self.files.len() {
            self.dirty = true;
        }
        if self.recovery_ends.is_some() {
            self.recovery.retain_files(&present);
            self.recovery_progress();
        }
    }

    fn update_file_gauges(&self) {
        let seen = self.files.len() as u64;
        let done = self.files.values().filter(|f| f.offset >= f.size && f.size > 0).count() as u64;
        self.metrics.set_files(seen, done);
    }
}

fn output_size(o: &Output) -> usize {
    o.key.as_ref().map_or(0, Bytes::len) + o.value.as_ref().map_or(0, Bytes::len)
}

/// Runs a source with its own stop signal until it finishes (for tests and tools).
pub fn run_once(name: &str, config: SourceConfig, cluster: Arc<dyn Cluster>) -> Result<Arc<Metrics>> {
    let metrics = Arc::new(Metrics::default());
    let mut config = config;
    config.mode = Mode::Once;
    let mut source = FileSource::new(name, config, cluster, metrics.clone());
    source.run(&StopSignal::new())?;
    metrics.set_state(ConnectorState::Finished);
    Ok(metrics)
}
