//! [`FileSink`]: writes a topic to files — JSON lines or Parquet — rolled by size and time,
//! exactly once.
//!
//! ```text
//!  partition p ─► read from next offset ─► PartFile (JSON lines: streamed to disk;
//!                                                   Parquet: rows buffered)
//!     roll (size ≥ roll_bytes, or age ≥ roll_interval, or stop):
//!        finish + fsync  .<topic>-<p>-<first>.<ext>.tmp
//!        rename to       <topic>-<p>-<first:020>-<last:020>.<ext>     ← the commit
//!        fsync the directory, commit the consumer group, save a checkpoint (counters)
//! ```
//!
//! **Exactly once.** A file appears under its final name only when complete, and its name
//! says which offsets it holds. On start, the sink lists the directory and resumes each
//! partition after the highest offset of its files (or its committed position if that is
//! higher); unfinished `.tmp` files are deleted and their records read again. So a crash at
//! any moment neither loses nor duplicates output: the rename is atomic, and a record is in
//! exactly one completed file. One sink per (directory, topic): two sinks writing the same
//! topic to the same directory would take each other's files for their own.
//!
//! * [`jsonl`] — JSON-lines files.
//! * [`parquet`] — Parquet files (schema inferred from each file's values).

pub mod jsonl;
pub mod parquet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use brook_broker::Record;
use brook_broker::util::now_ms;

use crate::checkpoint::{Checkpoint, OffsetStore};
use crate::config::{ConnectorKind, Mode, SinkConfig, SinkFormat};
use crate::error::{Error, Result};
use crate::metrics::{ConnectorState, Counter, Metrics};
use crate::source::RunEnd;
use crate::stop::StopSignal;
use brook_client::{Cluster, Committed};

/// One output file being written.
pub trait PartFile: Send {
    /// Adds a record.
    fn write(&mut self, record: &Record) -> Result<()>;
    /// Bytes written or buffered so far.
    fn size(&self) -> u64;
    /// Records added.
    fn rows(&self) -> u64;
    /// Writes out everything and makes the temporary file durable.
    fn finish(self: Box<Self>) -> Result<()>;
}

struct Open {
    file: Box<dyn PartFile>,
    tmp: PathBuf,
    first: i64,
    last: i64,
    opened: Instant,
}

/// A sink connector writing one topic to files in a directory.
pub struct FileSink {
    name: String,
    config: SinkConfig,
    cluster: Arc<dyn Cluster>,
    metrics: Arc<Metrics>,
    next: BTreeMap<i32, i64>,
    /// Highest offset in completed files per partition, found at start.
    completed: BTreeMap<i32, i64>,
    open: BTreeMap<i32, Open>,
    /// Set when every upstream source of a `once` run has finished.
    upstream_done: Arc<AtomicBool>,
}

impl FileSink {
    /// A sink; nothing happens until [`FileSink::run`].
    pub fn new(name: &str, config: SinkConfig, cluster: Arc<dyn Cluster>, metrics: Arc<Metrics>) -> Self {
        FileSink {
            name: name.to_string(),
            config,
            cluster,
            metrics,
            next: BTreeMap::new(),
            completed: BTreeMap::new(),
            open: BTreeMap::new(),
            upstream_done: Arc::new(AtomicBool::new(true)),
        }
    }

    /// In `once` mode, finish only after `flag` is set (the run's sources are done).
    pub fn wait_for_upstream(&mut self, flag: Arc<AtomicBool>) {
        self.upstream_done = flag;
    }

    fn group(&self) -> String {
        format!("_brook_connect.{}", self.name)
    }

    fn extension(&self) -> &'static str {
        match self.config.format {
            SinkFormat::JsonLines => "jsonl",
            SinkFormat::Parquet => "parquet",
        }
    }

    /// Runs until stopped (or, in `once` mode, until the topic is written out).
    pub fn run(&mut self, stop: &StopSignal) -> Result<RunEnd> {
        self.metrics.set_state(ConnectorState::Starting);
        self.start()?;
        self.metrics.set_state(ConnectorState::Running);
        let mut last_partition_check = Instant::now();
        loop {
            if stop.is_stopped() {
                self.roll_all()?;
                return Ok(RunEnd::Stopped);
            }
            if self.next.is_empty() || last_partition_check.elapsed().as_secs() >= 5 {
                self.discover_partitions()?;
                last_partition_check = Instant::now();
            }
            let mut progressed = false;
            let partitions: Vec<i32> = self.next.keys().copied().collect();
            for p in partitions {
                progressed |= self.copy_partition(p)?;
            }
            let aged: Vec<i32> = self
                .open
                .iter()
                .filter(|(_, o)| o.opened.elapsed() >= self.config.roll_interval)
                .map(|(p, _)| *p)
                .collect();
            for p in aged {
                self.roll(p)?;
            }
            if !progressed && self.config.mode == Mode::Once && self.upstream_done.load(Ordering::Acquire) {
                // Nothing more was read even after upstream finished: write out and stop.
                self.discover_partitions()?;
                if self.caught_up()? {
                    self.roll_all()?;
                    return Ok(RunEnd::Finished);
                }
            }
            if !progressed && stop.sleep(self.config.poll_interval) {
                self.roll_all()?;
                return Ok(RunEnd::Stopped);
            }
        }
    }

    fn start(&mut self) -> Result<()> {
        std::fs::create_dir_all(&self.config.path)
            .map_err(Error::io("creating the output directory", &self.config.path))?;
        OffsetStore::ensure(self.cluster.as_ref())?;
        if let Some(cp) = OffsetStore::load(self.cluster.as_ref(), &self.name)? {
            self.metrics.restore(&cp.metrics);
        }
        self.completed = completed_files(&self.config.path, &self.config.topic, self.extension())?;
        self.remove_temporary_files()?;
        self.discover_partitions()
    }

    /// Adds partitions not seen yet, starting after their completed files (or their committed
    /// position, if further).
    fn discover_partitions(&mut self) -> Result<()> {
        let n = self.cluster.partitions(&self.config.topic)?.unwrap_or(0);
        for p in 0..n {
            if !self.next.contains_key(&p) {
                let next = self.initial_position(p)?;
                self.next.insert(p, next);
            }
        }
        Ok(())
    }

    fn initial_position(&self, p: i32) -> Result<i64> {
        let from_files = self.completed.get(&p).map_or(0, |last| last + 1);
        let committed = self.cluster.committed(&self.group(), &self.config.topic, p)?;
        let next = from_files.max(committed.map_or(0, |c| c.offset));
        let end = self.cluster.offsets(&self.config.topic, p)?.1;
        if next > end {
            let msg = format!(
                "files in {} already hold records of {}-{p} up to offset {}, but the partition ends at {end}: \
                 those offsets will not be written again (if the topic was recreated, remove the files or \
                 use another directory)",
                self.config.path.display(),
                self.config.topic,
                next - 1
            );
            tracing::warn!(connector = %self.name, "{msg}");
            self.metrics.set_error(msg);
        }
        Ok(next)
    }

    fn remove_temporary_files(&self) -> Result<()> {
        let prefix = format!(".{}-", self.config.topic);
        let dir = &self.config.path;
        for entry in std::fs::read_dir(dir).map_err(Error::io("listing the output directory", dir))? {
            let entry = entry.map_err(Error::io("listing the output directory", dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".tmp") {
                std::fs::remove_file(entry.path())
                    .map_err(Error::io("removing an unfinished file", entry.path()))?;
            }
        }
        Ok(())
    }

    /// Copies what is new in one partition; returns whether anything was read.
    fn copy_partition(&mut self, p: i32) -> Result<bool> {
        let next = self.next.get(&p).copied().unwrap_or(0);
        let records = self.cluster.read(&self.config.topic, p, next, 1 << 20)?;
        let Some(last) = records.last().map(|r| r.offset) else { return Ok(false) };
        if records[0].offset > next {
            let (start, _) = self.cluster.offsets(&self.config.topic, p)?;
            if start > next {
                let msg = format!(
                    "records {next}..{start} of {}-{p} were deleted by retention before the sink wrote them",
                    self.config.topic
                );
                tracing::warn!(connector = %self.name, "{msg}");
                self.metrics.set_error(msg);
            }
        }
        for r in &records {
            if !self.open.contains_key(&p) {
                self.open_file(p, r.offset)?;
            }
            if let Some(o) = self.open.get_mut(&p) {
                o.file.write(r)?;
                o.last = r.offset;
            }
            self.metrics.add(Counter::RecordsIn, 1);
            self.metrics.add(Counter::BytesIn, record_size(r));
            if self.open.get(&p).is_some_and(|o| o.file.size() >= self.config.roll_bytes) {
                self.roll(p)?;
            }
        }
        self.next.insert(p, last + 1);
        Ok(true)
    }

    fn open_file(&mut self, p: i32, first: i64) -> Result<()> {
        let tmp =
            self.config.path.join(format!(".{}-{p}-{first:020}.{}.tmp", self.config.topic, self.extension()));
        let file: Box<dyn PartFile> = match self.config.format {
            SinkFormat::JsonLines => Box::new(jsonl::JsonLinesFile::create(
                &self.name,
                &tmp,
                self.config.envelope,
                &self.config.topic,
                p,
            )?),
            SinkFormat::Parquet => Box::new(parquet::ParquetFile::new(&self.name, &tmp, p)),
        };
        self.open.insert(p, Open { file, tmp, first, last: first, opened: Instant::now() });
        Ok(())
    }

    /// Completes partition `p`'s open file and commits its position.
    fn roll(&mut self, p: i32) -> Result<()> {
        let Some(open) = self.open.remove(&p) else { return Ok(()) };
        let rows = open.file.rows();
        open.file.finish()?;
        let name =
            format!("{}-{p}-{:020}-{:020}.{}", self.config.topic, open.first, open.last, self.extension());
        let path = self.config.path.join(&name);
        std::fs::rename(&open.tmp, &path).map_err(Error::io("completing an output file", &path))?;
        sync_dir(&self.config.path)?;
        self.metrics.add(Counter::RecordsOut, rows);
        self.metrics.add(Counter::FilesDone, 1);
        self.cluster.commit(&self.group(), &[(&self.config.topic, p, Committed::new(open.last + 1))])?;
        let cp = Checkpoint {
            kind: Some(ConnectorKind::Sink),
            topic: Some(self.config.topic.clone()),
            positions: self.next.iter().map(|(p, n)| (*p, *n)).collect(),
            metrics: self.metrics.snapshot(),
            committed_ms: now_ms(),
            ..Checkpoint::default()
        };
        OffsetStore::save(self.cluster.as_ref(), &self.name, &cp)?;
        tracing::debug!(connector = %self.name, file = %name, rows, "completed an output file");
        Ok(())
    }

    fn roll_all(&mut self) -> Result<()> {
        let open: Vec<i32> = self.open.keys().copied().collect();
        for p in open {
            self.roll(p)?;
        }
        Ok(())
    }

    fn caught_up(&self) -> Result<bool> {
        for (p, next) in &self.next {
            if self.cluster.offsets(&self.config.topic, *p)?.1 > *next {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn record_size(r: &Record) -> u64 {
    (r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())) as u64
}

/// The highest offset in completed files per partition, from the names in `dir`.
pub fn completed_files(dir: &Path, topic: &str, extension: &str) -> Result<BTreeMap<i32, i64>> {
    let mut last = BTreeMap::new();
    let prefix = format!("{topic}-");
    let suffix = format!(".{extension}");
    for entry in std::fs::read_dir(dir).map_err(Error::io("listing the output directory", dir))? {
        let entry = entry.map_err(Error::io("listing the output directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(middle) = name.strip_prefix(&prefix).and_then(|n| n.strip_suffix(&suffix)) else { continue };
        let parts: Vec<&str> = middle.split('-').collect();
        let [p, _first, end] = parts[..] else { continue };
        let (Ok(p), Ok(end)) = (p.parse::<i32>(), end.parse::<i64>()) else { continue };
        let slot = last.entry(p).or_insert(end);
        *slot = (*slot).max(end);
    }
    Ok(last)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing the output directory", dir))
}
