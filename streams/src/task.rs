//! Tasks: one instance of a sub-topology's processors for one input partition.
//!
//! A [`TaskBuilder`] is what a sub-topology factory gets when the runtime (or the test driver)
//! creates a task: the task id, the application id for naming internal topics, and the task's
//! state stores. A [`TaskContext`] is what processors get on every call: where to send output
//! records, the task's event time, the current input record's metadata, and counters.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::Result;
use crate::record::OutputRecord;
use crate::state::cache::CachedStore;
use crate::state::changelog::{self, ChangeLog, ChangelogReader, LoggedStore, OffsetCheckpoint, Restored};
use crate::state::{KeyValueStore, StateBackend};
use crate::topology::INTERNAL_PREFIX;

/// Identifies a task: sub-topology and partition (Kafka Streams writes it `0_3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// Sub-topology index.
    pub subtopology: usize,
    /// Input partition.
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// A store shared by the operators of one task.
pub type StoreRef = Rc<RefCell<Box<dyn KeyValueStore>>>;

/// Handed to a sub-topology factory to build one task.
pub struct TaskBuilder<'a> {
    /// The task being built.
    pub task: TaskId,
    /// Application id (prefix of internal topics and of the consumer group).
    pub application_id: &'a str,
    backend: &'a mut dyn StateBackend,
    cache_entries: usize,
    stores: HashMap<String, StoreRef>,
    /// Free-form per-build memo for front ends (the DSL uses it to share nodes with several
    /// parents).
    pub memo: HashMap<usize, Box<dyn std::any::Any>>,
    logging: Option<StoreLogging<'a>>,
}

/// How a task's stores are backed by changelogs while a [`TaskBuilder`] opens them: each store
/// is restored from its changelog as it opens, and logs its writes into `log`.
pub struct StoreLogging<'a> {
    /// Where the task's stores log their writes.
    pub log: Rc<ChangeLog>,
    /// Reads changelogs back.
    pub reader: &'a mut dyn ChangelogReader,
    /// What the task's local stores held when it last committed.
    pub checkpoint: &'a OffsetCheckpoint,
    /// What restoring each opened store did.
    pub restored: Vec<Restored>,
}

impl<'a> TaskBuilder<'a> {
    /// Creates a builder over a state backend.
    pub fn new(
        task: TaskId,
        application_id: &'a str,
        backend: &'a mut dyn StateBackend,
        cache_entries: usize,
    ) -> Self {
        TaskBuilder {
            task,
            application_id,
            backend,
            cache_entries,
            stores: HashMap::new(),
            memo: HashMap::new(),
            logging: None,
        }
    }

    /// Backs the stores this builder opens by changelogs (see [`crate::state::changelog`]).
    pub fn with_changelogs(mut self, logging: StoreLogging<'a>) -> Self {
        self.logging = Some(logging);
        self
    }

    /// What the changelogs did while the stores opened (`None` without changelogs).
    pub fn into_logging(self) -> Option<StoreLogging<'a>> {
        self.logging
    }

    /// With changelogs: wraps a newly opened store so it logs its writes, after restoring it.
    fn logged(&mut self, name: &str, store: Box<dyn KeyValueStore>) -> Result<Box<dyn KeyValueStore>> {
        let Some(logging) = self.logging.as_mut() else { return Ok(store) };
        let topic = changelog::changelog_topic(self.application_id, name);
        let partition = self.task.partition;
        let checkpointed = logging.checkpoint.offsets.get(&(topic.clone(), partition)).copied();
        let mut store = LoggedStore::new(store, topic.clone(), logging.log.clone());
        let restored =
            changelog::restore(&mut store, &logging.log, logging.reader, &topic, partition, checkpointed)?;
        logging.restored.push(restored);
        Ok(Box::new(store))
    }

    /// Opens a state store of this task (behind the write-back cache when enabled). Opening
    /// the same name twice in one task returns the same store, so an operator can read a
    /// store another operator writes (joins read the tables' stores).
    pub fn store(&mut self, name: &str) -> Result<StoreRef> {
        if let Some(s) = self.stores.get(name) {
            return Ok(s.clone());
        }
        let store = self.backend.open(name)?;
        let store = self.logged(name, store)?;
        let store: Box<dyn KeyValueStore> = if self.cache_entries > 0 {
            Box::new(CachedStore::new(store, self.cache_entries))
        } else {
            store
        };
        let store = Rc::new(RefCell::new(store));
        self.stores.insert(name.to_string(), store.clone());
        Ok(store)
    }

    /// Opens an append-only state store of this task (see
    /// [`StateBackend::open_append_only`]), without the write-back cache: its operator
    /// batches its own writes (join buffers write every key once, so a cache only costs).
    pub fn append_only_store(&mut self, name: &str) -> Result<StoreRef> {
        if let Some(s) = self.stores.get(name) {
            return Ok(s.clone());
        }
        let store = self.backend.open_append_only(name)?;
        let store = Rc::new(RefCell::new(self.logged(name, store)?));
        self.stores.insert(name.to_string(), store.clone());
        Ok(store)
    }

    /// Resolves an internal-topic placeholder to the real topic name.
    pub fn topic_name(&self, name: &str) -> String {
        match name.strip_prefix(INTERNAL_PREFIX) {
            Some(rest) => format!("{}-{rest}", self.application_id),
            None => name.to_string(),
        }
    }
}

/// Counters a task keeps (summed into application metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Input records processed.
    pub records_in: u64,
    /// Records written to sinks.
    pub records_out: u64,
    /// Records dropped because they arrived after their window closed (end + grace).
    pub late_records_dropped: u64,
    /// Records skipped because they could not be deserialized or processed.
    pub records_skipped: u64,
}

impl std::ops::AddAssign for TaskMetrics {
    fn add_assign(&mut self, o: Self) {
        self.records_in += o.records_in;
        self.records_out += o.records_out;
        self.late_records_dropped += o.late_records_dropped;
        self.records_skipped += o.records_skipped;
    }
}

/// Metadata of the input record being processed.
#[derive(Debug, Clone, Default)]
pub struct RecordMeta {
    /// Source topic.
    pub topic: std::sync::Arc<str>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source timestamp.
    pub timestamp: i64,
}

/// A skipped record and why, for a processing log.
#[derive(Debug, Clone)]
pub struct ProcessingError {
    /// Where it happened.
    pub operator: String,
    /// What went wrong.
    pub reason: String,
    /// The input record's metadata.
    pub record: RecordMeta,
}

/// What processors see on each call.
pub struct TaskContext {
    /// This task.
    pub task: TaskId,
    /// Output records waiting to be written.
    pub output: Vec<OutputRecord>,
    /// Counters.
    pub metrics: TaskMetrics,
    /// The input record being processed.
    pub current: RecordMeta,
    /// Records skipped since the runtime last drained this list.
    pub errors: Vec<ProcessingError>,
    watermark: i64,
    batch_cap: i64,
    batch_seen: i64,
    wall_clock: i64,
}

impl TaskContext {
    /// A context for `task`.
    pub fn new(task: TaskId) -> Self {
        TaskContext {
            task,
            output: Vec::new(),
            metrics: TaskMetrics::default(),
            current: RecordMeta::default(),
            errors: Vec::new(),
            watermark: i64::MIN,
            batch_cap: i64::MAX,
            batch_seen: i64::MIN,
            wall_clock: 0,
        }
    }

    /// Queues a record for a sink topic (or callback sink).
    pub fn send(&mut self, record: OutputRecord) {
        self.metrics.records_out += 1;
        self.output.push(record);
    }

    /// The task's event time (its watermark, see [`crate::time`]) before the current batch:
    /// windows that ended `grace` before it are closed. `i64::MIN` until every input has made
    /// progress.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The event time an operator may assume once it has seen a record at `timestamp` in the
    /// current batch: the record's time, but never less than the watermark and never more
    /// than the other inputs of the task have reached ([`crate::time::TaskTime::cap`]).
    /// Operators keep the largest value they got as their own time, so records later in the
    /// same batch are judged as they would be one by one.
    pub fn time_after(&self, timestamp: i64) -> i64 {
        self.watermark.max(timestamp.min(self.batch_cap))
    }

    /// Source processors call this with the event time of each record they read (after
    /// timestamp extraction); the runtime moves the source's time with it.
    pub fn observe_time(&mut self, timestamp: i64) {
        if timestamp > self.batch_seen {
            self.batch_seen = timestamp;
        }
    }

    /// Sets the watermark and the cap of the next batch (runtime only).
    pub fn begin_batch(&mut self, watermark: i64, cap: i64) {
        self.watermark = watermark;
        self.batch_cap = cap;
        self.batch_seen = i64::MIN;
    }

    /// The largest event time source processors observed in the batch (runtime only).
    pub fn end_batch(&mut self) -> i64 {
        std::mem::replace(&mut self.batch_seen, i64::MIN)
    }

    /// Wall-clock time as the runtime (or test driver) sees it, in ms.
    pub fn wall_clock(&self) -> i64 {
        self.wall_clock
    }

    /// Sets wall-clock time (runtime and test driver only).
    pub fn set_wall_clock(&mut self, now: i64) {
        self.wall_clock = now;
    }

    /// Counts a record dropped for lateness.
    pub fn record_late(&mut self) {
        self.metrics.late_records_dropped += 1;
    }

    /// Records a skipped record with its reason; processing continues.
    pub fn skip(&mut self, operator: &str, reason: impl Into<String>) {
        self.metrics.records_skipped += 1;
        let reason = reason.into();
        tracing::debug!(task = %self.task, operator, %reason, "skipping record");
        if self.errors.len() < 10_000 {
            self.errors.push(ProcessingError {
                operator: operator.to_string(),
                reason,
                record: self.current.clone(),
            });
        }
    }
}
