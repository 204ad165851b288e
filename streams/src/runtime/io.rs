//! What a stream thread needs from wherever the topics live: [`StreamIo`].
//!
//! The thread ([`super::stream_thread::StreamThread`]) owns the tasks and the loop; an
//! implementation of this trait owns the connection — which tasks the thread runs, reading
//! their sources, writing their outputs, and committing. Two implementations:
//! [`super::embedded`] (function calls on an in-process broker, a static assignment) and
//! [`super::kafka`] (librdkafka: a consumer-group member and an idempotent producer).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::record::{InputRecord, OutputRecord};
use crate::state::changelog::ChangelogReader;
use crate::task::TaskId;

use super::clock::Clock;
use super::lifecycle::{SourcePosition, SourceStart};
use super::task_runner::RunningTask;

/// The tasks a thread runs, by id.
pub(crate) type Tasks = BTreeMap<TaskId, RunningTask>;

/// Per partition `(topic, partition)`, the offset after the last record written there.
pub(crate) type Written = HashMap<(String, i32), i64>;

/// What one [`StreamIo::poll`] brought.
#[derive(Default)]
pub(crate) struct Fetched {
    /// Data records fetched (watermark reports not counted): while records arrive the
    /// application is not idle.
    pub data: usize,
    /// Records for tasks the thread does not run yet (a consumer may deliver a newly assigned
    /// partition before the assignment is looked at): `(task, source index, record)`. The
    /// thread opens the task and buffers them.
    pub unowned: Vec<(TaskId, usize, InputRecord)>,
}

/// An output record the cluster refused for what it is ([`Error::RecordRejected`]); the
/// thread's [`super::production::ProductionExceptionHandler`] decides what happens next.
pub(crate) struct Rejected {
    pub record: OutputRecord,
    pub error: Error,
}

/// A stream thread's connection to its topics.
///
/// Contract. The thread calls, in each pass of its loop: [`StreamIo::assignment`], then
/// [`StreamIo::poll`], then for each task [`StreamIo::fill`], processing, and
/// [`StreamIo::write`] for its outputs; every commit interval [`StreamIo::commit`]; and
/// [`StreamIo::caught_up`] at the end. A connection reads either for the whole thread in
/// `poll` (a consumer) or per task in `fill` (a reader of partition logs, so a task reads
/// what the tasks before it in the same pass wrote). Implementations must:
/// * buffer fetched records with [`RunningTask::push`] in offset order, advancing
///   `positions` of the sources they read by offset (a consumer that tracks positions itself
///   may leave them at -1);
/// * set `caught_up[s]` only when the reader of source `s` has reached the partition's end;
/// * make every record passed to `write` durable before the positions passed to the next
///   `commit` are committed (at-least-once: flush state → outputs durable → commit), fail
///   `commit` if one of them was lost after `write` accepted it, and report where those
///   records ended, per partition;
/// * in `write`, return a record the cluster refused for what it is (too large, invalid) as
///   [`Rejected`], having written the others in order, and fail (`Err`) only when the
///   cluster itself failed;
/// * read changelogs back for restoring a task's stores ([`ChangelogReader`]), outside the
///   thread's consumer group.
pub(crate) trait StreamIo: ChangelogReader {
    /// The tasks this thread should run, when that changed since the last call (`None`: no
    /// change). The first call must return the initial assignment.
    fn assignment(&mut self) -> Result<Option<BTreeSet<TaskId>>>;

    /// Where a newly assigned task starts, one entry per source (`sources` in the
    /// sub-topology's order). Called before the task is opened.
    fn start(&mut self, id: TaskId, sources: &[String]) -> Result<Vec<SourceStart>>;

    /// Reads what has arrived for the thread's tasks into their buffers (may wait a little
    /// when nothing is there; see [`StreamIo::fetch_waits`]). A connection that reads per task
    /// does nothing here.
    fn poll(&mut self, tasks: &mut Tasks, clock: &dyn Clock) -> Result<Fetched>;

    /// Just before `task` is processed: reads its sources whose buffers are empty (if this
    /// connection reads per task) and updates `caught_up` of those that have nothing buffered.
    /// Returns the data records read.
    fn fill(&mut self, task: &mut RunningTask, clock: &dyn Clock) -> Result<usize>;

    /// Writes records, all for `topic` (not a callback sink), in order; returns those the
    /// cluster refused for what they are.
    fn write(&mut self, topic: &str, records: &[OutputRecord]) -> Result<Vec<Rejected>>;

    /// Makes everything written durable, then commits `positions` for the application.
    /// Returns, for each partition written since the last commit, the offset after the last
    /// record written there.
    fn commit(&mut self, positions: Vec<SourcePosition>) -> Result<Written>;

    /// Whether this thread has read everything there is to read. `quiet` says whether the
    /// pass just made found nothing to do; after a pass with work the answer is `false` (and
    /// any cached answer is dropped).
    fn caught_up(&mut self, quiet: bool) -> bool;

    /// Whether [`StreamIo::poll`] itself waits for data; if not, the thread sleeps (with a
    /// growing backoff) after passes without work.
    fn fetch_waits(&self) -> bool;

    /// A task stopped running here (revoked): forget what was kept for it.
    fn release(&mut self, id: TaskId);
}
