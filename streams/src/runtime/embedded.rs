//! Stream threads over an in-process broker: fetch and produce are function calls on the
//! [`Broker`], offsets are committed to its durable group-offset store.
//!
//! Tasks are assigned statically: every task of the topology (one per partition of each
//! sub-topology) goes to one thread, round-robin. A thread reads each task's source partitions
//! directly from their logs at the task's positions, so it knows exactly when a source is
//! caught up; outputs are produced in batches of at most [`MAX_OUTPUT_BATCH_BYTES`], and a
//! commit waits until everything produced is durable before it commits the positions.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;

use brook_broker::log::PartitionLog;
use brook_broker::{Broker, NewRecord, OffsetAndMetadata, OffsetSpec, TopicConfig};

use super::clock::Clock;
use super::io::{Fetched, Rejected, StreamIo, Tasks, Written};
use super::lifecycle::{SourcePosition, SourceStart};
use super::stream_thread::{ThreadContext, spawn};
use super::task_runner::RunningTask;
use super::topics::{NewTopicSpec, TopicAdmin, prepare_topics};
use super::{OffsetReset, Shared, StreamsConfig};
use crate::error::{Error, Result};
use crate::record::{InputRecord, OutputRecord};
use crate::state::changelog::{Change, ChangelogReader};
use crate::task::{TaskId, TaskMetrics};
use crate::time::{WatermarkReport, time_plan};
use crate::topology::Topology;

/// Creates topics the topology needs and starts the threads, each with its share of the tasks.
pub(super) fn start(
    broker: Broker,
    topology: Topology,
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<Vec<JoinHandle<()>>> {
    let app = &config.application_id;
    let layout = prepare_topics(&topology, app, &broker, config.state_changelogs)?;
    let tasks = layout.tasks(&topology);
    let plan = Arc::new(time_plan(&topology, app, |t| layout.partitions(t)));
    let threads = config.num_threads.min(tasks.len().max(1));
    shared.metrics.lock().resize(threads, TaskMetrics::default());
    let cx = ThreadContext { topology: Arc::new(topology), plan, config: config.clone(), shared };
    (0..threads)
        .map(|t| {
            let mine: BTreeSet<TaskId> = tasks.iter().skip(t).step_by(threads).copied().collect();
            let broker = broker.clone();
            spawn(t, cx.clone(), move |cx| Ok(EmbeddedIo::new(broker, &cx.config, mine)))
        })
        .collect()
}

impl TopicAdmin for Broker {
    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.topic(topic).ok().map(|t| t.partition_count()))
    }

    fn create(&self, topics: &[NewTopicSpec]) -> Result<()> {
        for t in topics {
            let config = TopicConfig::from_pairs(t.config.clone())?;
            match self.create_topic(&t.name, t.partitions, config) {
                Ok(()) | Err(brook_broker::Error::TopicAlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A source partition a task reads.
struct SourceLog {
    topic: Arc<str>,
    log: Arc<PartitionLog>,
}

/// One thread's connection to the in-process broker.
struct EmbeddedIo {
    broker: Broker,
    group: String,
    reset: OffsetReset,
    fetch_max_bytes: usize,
    /// The thread's tasks, handed out by the first [`StreamIo::assignment`].
    assignment: Option<BTreeSet<TaskId>>,
    logs: HashMap<TaskId, Vec<SourceLog>>,
    /// End offset of everything produced since the last commit, per partition.
    written: HashMap<(String, i32), i64>,
}

impl EmbeddedIo {
    fn new(broker: Broker, config: &StreamsConfig, tasks: BTreeSet<TaskId>) -> Self {
        EmbeddedIo {
            broker,
            group: config.application_id.clone(),
            reset: config.auto_offset_reset,
            fetch_max_bytes: config.fetch_max_bytes,
            assignment: Some(tasks),
            logs: HashMap::new(),
            written: HashMap::new(),
        }
    }

    /// The group's committed position of `topic`-`partition`, or the reset position.
    fn start_of(&self, topic: &str, partition: i32) -> Result<SourceStart> {
        if let Some(c) = self.broker.committed_offset(&self.group, topic, partition) {
            return Ok(SourceStart { position: c.offset, metadata: c.metadata });
        }
        let spec = match self.reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
        };
        let position = self.broker.list_offset(topic, partition, spec)?.map_or(0, |o| o.0);
        Ok(SourceStart::at(position))
    }

    /// Reads source `si` of `task` from its position; returns the data records read.
    fn read_source(&self, task: &mut RunningTask, si: usize, source: &SourceLog, now: i64) -> Result<usize> {
        match source.log.read_records(task.positions[si], self.fetch_max_bytes) {
            Ok((records, high_watermark)) => {
                if let Some(last) = records.last() {
                    task.positions[si] = last.offset + 1;
                }
                task.caught_up[si] = task.positions[si] >= high_watermark;
                let partition = task.id.partition;
                let mut data = 0;
                let records = records.into_iter().map(|r| {
                    let record = InputRecord::from_broker(source.topic.clone(), partition, r);
                    data += usize::from(!WatermarkReport::is_report(&record));
                    record
                });
                task.push(si, records, now);
                Ok(data)
            }
            Err(brook_broker::Error::OffsetOutOfRange { log_start, log_end, offset, .. }) => {
                // Before the start: retention removed data not read yet; continue from what is
                // left. Past the end: the topic was deleted and created again (or truncated), so
                // the position means nothing there; as a Kafka consumer does, start where
                // auto.offset.reset says (earliest: the new topic's records are read).
                let to = match (offset < log_start, self.reset) {
                    (true, _) | (false, OffsetReset::Earliest) => log_start,
                    (false, OffsetReset::Latest) => log_end,
                };
                tracing::warn!(task = %task.id, offset, to, "position out of range; resetting");
                task.positions[si] = to;
                task.processed[si] = to;
                Ok(0)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Produces records of one topic partition in batches the broker accepts. A batch the
    /// broker refuses for its records (one over `max.message.bytes`) is produced again record
    /// by record, so only the records refused alone come back as [`Rejected`].
    fn produce(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        records: &[OutputRecord],
    ) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut start = 0;
        while start < records.len() {
            // Keep each produced batch well under the default max.message.bytes (1 MiB).
            let mut end = start;
            let mut bytes = 0usize;
            while end < records.len() && (end == start || bytes < MAX_OUTPUT_BATCH_BYTES) {
                let r = &records[end];
                bytes += 32 + r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
                end += 1;
            }
            match self.produce_batch(topic, partition, &records[start..end]) {
                Ok(()) => {}
                Err(e) if refuses_the_records(&e) && end - start == 1 => rejected.push(Rejected {
                    record: records[start].clone(),
                    error: Error::RecordRejected { topic: topic.to_string(), reason: e.to_string() },
                }),
                Err(e) if refuses_the_records(&e) => {
                    for one in &records[start..end] {
                        rejected.extend(self.produce(topic, partition, std::slice::from_ref(one))?);
                    }
                }
                Err(e) => return Err(e.into()),
            }
            start = end;
        }
        Ok(rejected)
    }

    /// Produces `records` as one batch (the broker takes all or none).
    fn produce_batch(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        records: &[OutputRecord],
    ) -> std::result::Result<(), brook_broker::Error> {
        let batch: Vec<NewRecord> = records
            .iter()
            .map(|r| NewRecord {
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                timestamp: Some(r.timestamp),
            })
            .collect();
        for (p, offset) in self.broker.produce(topic, partition, batch)? {
            let e = self.written.entry((topic.to_string(), p)).or_insert(0);
            *e = (*e).max(offset + 1);
        }
        Ok(())
    }
}

/// Whether the broker refused a batch for its records (as Kafka answers MESSAGE_TOO_LARGE,
/// INVALID_RECORD or INVALID_TIMESTAMP), not because it failed.
fn refuses_the_records(e: &brook_broker::Error) -> bool {
    matches!(
        e,
        brook_broker::Error::MessageTooLarge { .. }
            | brook_broker::Error::InvalidRecordBatch(_)
            | brook_broker::Error::InvalidTimestamp(_)
    )
}

impl ChangelogReader for EmbeddedIo {
    /// Reads the partition's log directly, up to its high watermark when reading started.
    fn read_changelog(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        apply: &mut dyn FnMut(Vec<Change>) -> Result<()>,
    ) -> Result<i64> {
        let log = self.broker.partition(topic, partition)?;
        let mut cursor = from;
        let mut end = None;
        loop {
            let (records, high_watermark) = match log.read_records(cursor, self.fetch_max_bytes) {
                Ok(read) => read,
                Err(brook_broker::Error::OffsetOutOfRange { log_start, log_end, offset, .. }) => {
                    if offset > log_end {
                        let (topic, end) = (topic.to_string(), log_end);
                        return Err(Error::ChangelogBehindCheckpoint { topic, partition, from, end });
                    }
                    cursor = log_start;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let end = *end.get_or_insert(high_watermark);
            let before = cursor;
            let mut changes = Vec::with_capacity(records.len());
            for r in records.into_iter().take_while(|r| r.offset < end) {
                cursor = r.offset + 1;
                if let Some(key) = r.key {
                    changes.push((key, r.value));
                }
            }
            let done = cursor == before || cursor >= end;
            if !changes.is_empty() {
                apply(changes)?;
            }
            if done {
                return Ok(cursor);
            }
        }
    }
}

/// Upper bound on the payload bytes of one produced output batch.
const MAX_OUTPUT_BATCH_BYTES: usize = 256 << 10;

impl StreamIo for EmbeddedIo {
    fn assignment(&mut self) -> Result<Option<BTreeSet<TaskId>>> {
        Ok(self.assignment.take())
    }

    fn start(&mut self, id: TaskId, sources: &[String]) -> Result<Vec<SourceStart>> {
        let mut logs = Vec::with_capacity(sources.len());
        let mut starts = Vec::with_capacity(sources.len());
        for topic in sources {
            logs.push(SourceLog {
                topic: Arc::from(topic.as_str()),
                log: self.broker.partition(topic, id.partition)?,
            });
            starts.push(self.start_of(topic, id.partition)?);
        }
        self.logs.insert(id, logs);
        Ok(starts)
    }

    fn poll(&mut self, _tasks: &mut Tasks, _clock: &dyn Clock) -> Result<Fetched> {
        // Each task reads its partitions in `fill`, after the tasks before it wrote theirs.
        Ok(Fetched::default())
    }

    /// Reads each empty source up to the partition's end, so it knows when one is caught up.
    fn fill(&mut self, task: &mut RunningTask, clock: &dyn Clock) -> Result<usize> {
        let Some(logs) = self.logs.get(&task.id) else { return Ok(0) };
        let mut data = 0;
        for (si, source) in logs.iter().enumerate() {
            if task.buffers[si].is_empty() {
                data += self.read_source(task, si, source, clock.now_ms())?;
            }
        }
        Ok(data)
    }

    fn write(&mut self, topic: &str, records: &[OutputRecord]) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        for run in records.chunk_by(|a, b| a.partition == b.partition) {
            rejected.extend(self.produce(topic, run[0].partition, run)?);
        }
        Ok(rejected)
    }

    fn commit(&mut self, positions: Vec<SourcePosition>) -> Result<Written> {
        let offsets = positions
            .into_iter()
            .map(|p| {
                let mut position = OffsetAndMetadata::new(p.offset);
                position.metadata = p.metadata;
                (p.topic, p.partition, position)
            })
            .collect();
        let written = std::mem::take(&mut self.written);
        futures::executor::block_on(async {
            for ((topic, p), end) in &written {
                self.broker.wait_durable(topic, *p, *end).await?;
            }
            self.broker.commit_offsets(&self.group, offsets).await
        })?;
        Ok(written)
    }

    fn caught_up(&mut self, quiet: bool) -> bool {
        // Every fetch reads to the partitions' ends: a quiet pass means nothing is left.
        quiet
    }

    fn fetch_waits(&self) -> bool {
        false
    }

    fn release(&mut self, id: TaskId) {
        self.logs.remove(&id);
    }
}
