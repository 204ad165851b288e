//! The steps of a task's life, written once for every driver: [`open_task`], [`process_task`]
//! and [`checkpoint`].
//!
//! ```text
//!  open_task:    state backend (RocksDB dir/app/task, or memory) ─► the sub-topology's
//!                processors, each store restored from its changelog as it opens (when the
//!                driver reads changelogs) ─► RunningTask at its start positions, with the
//!                event time its previous owner committed
//!  process_task: RunningTask::process_buffered at the driver's clock ─► outputs stay queued in
//!                ctx.output for the driver to write or route; processing errors move to the
//!                driver's log (at most MAX_KEPT_ERRORS)
//!  checkpoint:   flush every task's state ─► the changelog records still to write, the
//!                positions (with watermark metadata) and counters to commit, once the driver
//!                has made the outputs durable
//!  committed:    the changelog offsets now durable ─► each task's checkpoint file
//! ```
//!
//! The stream threads (`stream_thread`) run these steps in their poll loop; the test
//! driver and the in-process benchmark driver call them directly and route outputs into
//! inputs themselves.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::error::Result;
use crate::record::OutputRecord;
use crate::state::changelog::{ChangeLog, ChangelogReader, OffsetCheckpoint, TaskChangelog};
use crate::task::{ProcessingError, StoreLogging, TaskBuilder, TaskId, TaskMetrics};
use crate::time::SubTopologyTime;
use crate::topology::Topology;

use super::clock::Clock;
use super::task_runner::{EventTiming, RunningTask};
use crate::state::StateConfig;

/// Processing errors a driver keeps before it drops new ones (its log is read by the
/// application, which may never read it).
pub const MAX_KEPT_ERRORS: usize = 10_000;

/// What every task of one application is opened with.
#[derive(Clone, Copy)]
pub struct TaskSetup<'a> {
    /// The application id: names the state directory and the processors' stores.
    pub application_id: &'a str,
    /// Where task state lives.
    pub state: &'a StateConfig,
    /// The event-time plan ([`crate::time::time_plan`]), indexed by sub-topology.
    pub plan: &'a [SubTopologyTime],
    /// Watermark report interval and idle timeout.
    pub timing: EventTiming,
}

/// Where a task starts reading one of its sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStart {
    /// The next offset to fetch (-1: unknown, the consumer keeps it).
    pub position: i64,
    /// What the previous owner committed with it (watermark reports of internal topics).
    pub metadata: String,
}

impl SourceStart {
    /// From offset `position`, with nothing committed.
    pub fn at(position: i64) -> Self {
        SourceStart { position, metadata: String::new() }
    }
}

/// A source position to commit: the offset after the last processed record, and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    /// Source topic.
    pub topic: String,
    /// Partition (the task's).
    pub partition: i32,
    /// Offset after the last processed record.
    pub offset: i64,
    /// [`RunningTask::commit_metadata`].
    pub metadata: String,
}

/// What a commit records, taken after every task's state was flushed.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// Positions of every source of every task that has processed something.
    pub positions: Vec<SourcePosition>,
    /// The tasks' counters, summed.
    pub metrics: TaskMetrics,
    /// Changelog records the flush produced, to be written before the positions are committed.
    pub changes: Vec<OutputRecord>,
}

/// Opens task `id` of `topology`: its state backend, its processors, and a [`RunningTask`]
/// starting at `starts` (one per source, in the sub-topology's order) at wall-clock `now`.
/// With a changelog `reader`, every store is backed by a changelog and restored from it as it
/// opens (see [`crate::state::changelog`]); restoring is logged with its progress.
pub fn open_task(
    topology: &Topology,
    setup: &TaskSetup<'_>,
    id: TaskId,
    starts: &[SourceStart],
    now: i64,
    reader: Option<&mut dyn ChangelogReader>,
) -> Result<RunningTask> {
    let sub = &topology.subtopologies[id.subtopology];
    let (mut backend, cache) = setup.state.open(setup.application_id, id);
    let dir = setup.state.task_dir(setup.application_id, id);
    let checkpoint = dir.as_deref().map(OffsetCheckpoint::read).unwrap_or_default();
    let log = ChangeLog::new(id.partition);
    let mut builder = TaskBuilder::new(id, setup.application_id, backend.as_mut(), cache);
    if let Some(reader) = reader {
        builder = builder.with_changelogs(StoreLogging {
            log: log.clone(),
            reader,
            checkpoint: &checkpoint,
            restored: Vec::new(),
        });
    }
    let processor = (sub.factory)(&mut builder)?;
    let changelog = builder.into_logging().map(|logging| {
        for r in logging.restored.iter().filter(|r| r.records > 0) {
            let rate = r.records as f64 * 1000.0 / r.millis.max(1) as f64;
            tracing::info!(
                task = %id, store = %r.store, records = r.records, bytes = r.bytes, millis = r.millis,
                records_per_sec = rate as u64, from_scratch = !checkpoint.offsets.contains_key(&(r.topic.clone(), id.partition)),
                "state store restored from its changelog"
            );
        }
        TaskChangelog::new(log, dir, &logging.restored)
    });
    let mut positions: Vec<i64> = starts.iter().map(|s| s.position).collect();
    positions.resize(sub.sources.len(), -1);
    let mut task = RunningTask::new(
        id,
        sub.sources.clone(),
        positions,
        processor,
        &setup.plan[id.subtopology],
        setup.timing,
        now,
    );
    task.changelog = changelog;
    for (source, start) in starts.iter().enumerate() {
        task.restore(source, &start.metadata);
    }
    Ok(task)
}

/// Processes what `task` has buffered at the clock's time and moves its processing errors to
/// `errors` (dropping them once it holds [`MAX_KEPT_ERRORS`]). Returns the work done
/// ([`RunningTask::process_buffered`]); the outputs stay queued in the task's context.
pub fn process_task(
    task: &mut RunningTask,
    clock: &dyn Clock,
    errors: &Mutex<Vec<ProcessingError>>,
) -> Result<usize> {
    let work = task.process_buffered(clock.now_ms())?;
    if !task.ctx.errors.is_empty() {
        let mut kept = errors.lock();
        if kept.len() < MAX_KEPT_ERRORS {
            kept.append(&mut task.ctx.errors);
        } else {
            task.ctx.errors.clear();
        }
    }
    Ok(work)
}

/// Flushes every task's state and returns what to commit for them (positions not yet known,
/// -1, are left out). The caller makes the outputs durable before it commits the positions.
pub fn checkpoint<'a>(tasks: impl IntoIterator<Item = &'a mut RunningTask>) -> Result<Checkpoint> {
    let mut out = Checkpoint::default();
    for task in tasks {
        task.flush()?;
        if let Some(changelog) = &task.changelog {
            out.changes.extend(changelog.log.take());
        }
        for (source, topic) in task.sources.iter().enumerate() {
            if task.processed[source] >= 0 {
                out.positions.push(SourcePosition {
                    topic: topic.clone(),
                    partition: task.id.partition,
                    offset: task.processed[source],
                    metadata: task.commit_metadata(source),
                });
            }
        }
        out.metrics += task.ctx.metrics;
    }
    Ok(out)
}

/// After a commit made the changelog records written so far durable up to `ends` (the offset
/// after the last, per partition): each task records what its flushed stores hold in its
/// checkpoint file, so a restart restores only what came after.
pub fn committed<'a>(
    tasks: impl IntoIterator<Item = &'a mut RunningTask>,
    ends: &HashMap<(String, i32), i64>,
) -> Result<()> {
    for task in tasks {
        if let Some(changelog) = &mut task.changelog {
            changelog.committed(ends)?;
        }
    }
    Ok(())
}
