//! The in-process executor: a query's compiled tasks on the calling thread, fed record
//! batches directly — no broker, no fetching, no offsets committed (the method of Flink's
//! nexmark repo and of Feldera, where the generator is a source inside the job).
//!
//! ```text
//!  push(topic, records) ──► buffers of the tasks reading `topic`
//!  run():  for each task, upstream first:  RunningTask::process_buffered
//!              outputs for topics some task reads (repartition topics, a chained query's
//!              input) ──► that task's buffers;  other outputs are dropped (counted)
//!          … until no task has buffered input
//! ```
//!
//! Every sub-topology gets one task (partition 0), opened, processed and flushed by the
//! runtime's own lifecycle steps (`open_task`, `process_task`, `checkpoint` in
//! [`brook_streams::runtime::lifecycle`]): the same state stores the runtime gives it (RocksDB
//! behind the write-back cache, or in memory), and the runtime's [`RunningTask`] interleaves its
//! sources by timestamp and advances stream time. State is flushed once a second, as the
//! runtime does before committing; the clock is the wall clock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brook_streams::record::Header;
use brook_streams::record::InputRecord;
use brook_streams::runtime::clock::{Clock, WallClock};
use brook_streams::runtime::lifecycle::{SourceStart, TaskSetup, checkpoint, open_task, process_task};
use brook_streams::runtime::task_runner::{EventTiming, RunningTask};
use brook_streams::state::StateConfig;
use brook_streams::task::{ProcessingError, TaskId, TaskMetrics};
use brook_streams::time::time_plan;
use brook_streams::topology::Topology;
use parking_lot::Mutex;

/// How often state is flushed (the runtime's default commit interval).
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Tasks of one or more topologies, connected through the topics they share.
pub struct Dataflow {
    /// Upstream first: topologies in the order given, sub-topologies in id order.
    tasks: Vec<RunningTask>,
    /// Topic → (task, source index) reading it.
    readers: HashMap<String, Vec<(usize, usize)>>,
    topic_names: HashMap<String, Arc<str>>,
    next_offset: HashMap<String, i64>,
    last_flush: Instant,
    clock: WallClock,
    /// Output records for topics no task reads.
    pub dropped: u64,
    /// Records skipped by processing errors.
    errors: Mutex<Vec<ProcessingError>>,
}

impl Dataflow {
    /// Instantiates one task per sub-topology of each `(application id, topology)`, with
    /// state under `state`.
    pub fn new(topologies: Vec<(String, Topology)>, state: &StateConfig) -> anyhow::Result<Dataflow> {
        let mut tasks = Vec::new();
        let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let clock = WallClock;
        for (app, mut topology) in topologies {
            topology.resolve_names(&app);
            let plan = time_plan(&topology, &app, |_| 1);
            let setup =
                TaskSetup { application_id: &app, state, plan: &plan, timing: EventTiming::default() };
            for sub in &topology.subtopologies {
                let id = TaskId { subtopology: sub.id, partition: 0 };
                let starts = vec![SourceStart::at(0); sub.sources.len()];
                let task = open_task(&topology, &setup, id, &starts, clock.now_ms(), None)
                    .with_context(|| format!("building task {id} of {app}"))?;
                for (si, topic) in sub.sources.iter().enumerate() {
                    readers.entry(topic.clone()).or_default().push((tasks.len(), si));
                }
                tasks.push(task);
            }
        }
        Ok(Dataflow {
            tasks,
            readers,
            topic_names: HashMap::new(),
            next_offset: HashMap::new(),
            last_flush: Instant::now(),
            clock,
            dropped: 0,
            errors: Mutex::new(Vec::new()),
        })
    }

    /// Whether some task reads `topic`.
    pub fn reads(&self, topic: &str) -> bool {
        self.readers.contains_key(topic)
    }

    /// Appends records to `topic`: they are buffered for every task reading it.
    pub fn push(
        &mut self,
        topic: &str,
        records: impl IntoIterator<Item = (Option<bytes::Bytes>, bytes::Bytes, i64)>,
    ) {
        self.append(
            topic,
            records.into_iter().map(|(key, value, timestamp)| (key, Some(value), timestamp, Vec::new())),
        );
    }

    fn append(
        &mut self,
        topic: &str,
        records: impl IntoIterator<Item = (Option<bytes::Bytes>, Option<bytes::Bytes>, i64, Vec<Header>)>,
    ) {
        let Some(readers) = self.readers.get(topic) else { return };
        let name = self.topic_names.entry(topic.to_string()).or_insert_with(|| Arc::from(topic)).clone();
        let offset = self.next_offset.entry(topic.to_string()).or_insert(0);
        let records: Vec<InputRecord> = records
            .into_iter()
            .map(|(key, value, timestamp, headers)| {
                let r = InputRecord {
                    topic: name.clone(),
                    partition: 0,
                    offset: *offset,
                    timestamp,
                    key,
                    value,
                    headers,
                };
                *offset += 1;
                r
            })
            .collect();
        let now = self.clock.now_ms();
        for (i, &(task, source)) in readers.iter().enumerate() {
            let task = &mut self.tasks[task];
            if i + 1 == readers.len() {
                task.push(source, records, now);
                break;
            }
            task.push(source, records.iter().cloned(), now);
        }
    }

    /// Processes everything buffered, including what the tasks send each other.
    pub fn run(&mut self) -> anyhow::Result<()> {
        loop {
            let mut progressed = false;
            for i in 0..self.tasks.len() {
                let task = &mut self.tasks[i];
                if task.buffers.iter().all(|b| b.is_empty()) {
                    continue;
                }
                progressed = true;
                // Everything there is has been "fetched": sources never wait for each other.
                task.caught_up.iter_mut().for_each(|c| *c = true);
                process_task(task, &self.clock, &self.errors).with_context(|| format!("task {}", task.id))?;
                let output = std::mem::take(&mut task.ctx.output);
                self.route(output);
            }
            if !progressed {
                break;
            }
        }
        if self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    fn route(&mut self, output: Vec<brook_streams::record::OutputRecord>) {
        let mut i = 0;
        while i < output.len() {
            let topic = &output[i].topic;
            let mut j = i + 1;
            while j < output.len() && output[j].topic == *topic {
                j += 1;
            }
            if self.reads(topic) {
                let topic = topic.clone();
                // Tombstones (null values) are not carried: no chained query reads a table
                // topic. Watermark reports (null-free, with their header) are.
                let run: Vec<_> = output[i..j]
                    .iter()
                    .filter(|r| r.value.is_some())
                    .map(|r| (r.key.clone(), r.value.clone(), r.timestamp, r.headers.clone()))
                    .collect();
                self.append(&topic, run);
            } else {
                self.dropped += (j - i) as u64;
            }
            i = j;
        }
    }

    /// Flushes every task's state (the runtime's commit step; there is nothing to commit to).
    pub fn flush(&mut self) -> anyhow::Result<()> {
        checkpoint(&mut self.tasks).context("flushing task state")?;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Records skipped by processing errors (the first [`brook_streams::runtime::lifecycle::MAX_KEPT_ERRORS`]).
    pub fn errors(&mut self) -> &[ProcessingError] {
        self.errors.get_mut()
    }

    /// Records of `topic` that every task reading it has processed (0 if none reads it).
    pub fn consumed(&self, topic: &str) -> i64 {
        let readers = self.readers.get(topic).map(Vec::as_slice).unwrap_or_default();
        readers.iter().map(|&(task, source)| self.tasks[task].processed[source]).min().unwrap_or(0)
    }

    /// Counters of all tasks.
    pub fn metrics(&self) -> TaskMetrics {
        let mut m = TaskMetrics::default();
        for t in &self.tasks {
            m += t.ctx.metrics;
        }
        m
    }
}

/// State for in-process tasks: RocksDB under `dir` with the runtime's defaults, or memory.
pub fn state_config(kind: &str, dir: &Path) -> StateConfig {
    match kind {
        "memory" => StateConfig::Memory,
        _ => StateConfig::rocksdb(dir),
    }
}
