//! The steps of a task's life, written once for every driver: [`open_task`], [`process_task`]
//! and [`checkpoint`].
//!
//! ```text
//!  open_task:    state backend (RocksDB dir/app/task, or memory) ─► the sub-topology's
//!                processors ─► RunningTask at its start positions, with the event time its
//!                previous owner committed
//!  process_task: RunningTask::process_buffered at the driver's clock ─► outputs stay queued in
//!                ctx.output for the driver to write or route; processing errors move to the
//!                driver's log (at most MAX_KEPT_ERRORS)
//!  checkpoint:   flush every task's state ─► the positions (with watermark metadata) and
//!                counters to commit, once the driver has made the outputs durable
//! ```
//!
//! The stream threads (`stream_thread`) run these steps in their poll loop; the test
//! driver and the in-process benchmark driver call them directly and route outputs into
//! inputs themselves.

use parking_lot::Mutex;

use crate::error::Result;
use crate::task::{ProcessingError, TaskBuilder, TaskId, TaskMetrics};
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
}

/// Opens task `id` of `topology`: its state backend, its processors, and a [`RunningTask`]
/// starting at `starts` (one per source, in the sub-topology's order) at wall-clock `now`.
pub fn open_task(
    topology: &Topology,
    setup: &TaskSetup<'_>,
    id: TaskId,
    starts: &[SourceStart],
    now: i64,
) -> Result<RunningTask> {
    let sub = &topology.subtopologies[id.subtopology];
    let (mut backend, cache) = setup.state.open(setup.application_id, id);
    let mut builder = TaskBuilder::new(id, setup.application_id, backend.as_mut(), cache);
    let processor = (sub.factory)(&mut builder)?;
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
