//! The one task runner: a stream thread that owns some tasks and drives their
//! poll → process → punctuate → commit loop, over any [`StreamIo`].
//!
//! ```text
//!  loop {
//!    follow_assignment   io.assignment() ─► open new tasks (open_task at io.start positions),
//!                        drop revoked ones (their counters are kept)
//!    poll                io.poll() ─► RunningTask::push into the tasks' source buffers
//!                        (a consumer's records for the whole thread)
//!    process             per task: io.fill (a partition reader reads the task's sources
//!                        here; caught-up flags) ─► process_task (records, then the
//!                        processors' advance/punctuation at the thread's clock) ─► outputs:
//!                        callback sinks called here, everything else io.write; records
//!                        the cluster refuses go to the production exception handler
//!    commit              every commit interval and on shutdown: checkpoint (flush state)
//!                        ─► io.write the changelog records left ─► io.commit (outputs and
//!                        changelogs durable, then positions + watermark metadata) ─► each
//!                        task's checkpoint file (lifecycle::committed)
//!    settle              no data, no work, nothing pending and io.caught_up ─► this thread
//!                        counts as idle for KafkaStreams::wait_until_idle; else activity
//!  }
//! ```
//!
//! A task whose state store is still locked — a rebalance moved it here from another stream
//! thread of this process that has not noticed yet — is opened again every
//! [`LOCKED_RETRY`] until [`LOCKED_PATIENCE`] has passed (Kafka Streams retries its state
//! directory lock the same way); records polled for it meanwhile are kept for it.
//!
//! A panic in a stream thread stops the thread and becomes the application's failure, as an
//! error does (so a SQL query shows ERROR instead of RUNNING).
//!
//! A task whose buffered input cannot be processed because another of its sources has not
//! caught up waits at most `max_task_idle`, then processes without it (Kafka Streams'
//! `max.task.idle.ms`). The clock is the thread's: everything a task sees as "now" comes from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock::{Clock, WallClock};
use super::io::{Rejected, StreamIo, Tasks};
use super::lifecycle::{TaskSetup, checkpoint, committed, open_task, process_task};
use super::production::{FailedOutput, ProductionExceptionHandler, ProductionResponse};
use super::{ProcessingGuarantee, Shared, StreamsConfig};
use crate::error::{Error, Result};
use crate::record::{InputRecord, OutputRecord};
use crate::task::{TaskId, TaskMetrics};
use crate::time::SubTopologyTime;
use crate::topology::Topology;

/// Shortest sleep after a pass without work (for connections whose fetch does not wait).
const MIN_BACKOFF: Duration = Duration::from_micros(200);
/// Longest sleep after passes without work.
const MAX_BACKOFF: Duration = Duration::from_millis(10);
/// How often a task whose state store is locked is tried again.
const LOCKED_RETRY: Duration = Duration::from_millis(50);
/// How long a task's state store may stay locked before the thread fails.
const LOCKED_PATIENCE: Duration = Duration::from_secs(60);

/// What every thread of an application shares: the topology, its event-time plan, the
/// configuration and the handle's state.
#[derive(Clone)]
pub(crate) struct ThreadContext {
    pub topology: Arc<Topology>,
    pub plan: Arc<Vec<SubTopologyTime>>,
    pub config: StreamsConfig,
    pub shared: Arc<Shared>,
}

/// Starts stream thread number `index`; `connect` makes its [`StreamIo`] on the new thread.
/// An error (connecting or running) stops the thread and becomes the application's failure.
pub(crate) fn spawn<I, F>(index: usize, cx: ThreadContext, connect: F) -> Result<JoinHandle<()>>
where
    I: StreamIo,
    F: FnOnce(&ThreadContext) -> Result<I> + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("{}-stream-{index}", cx.config.application_id))
        .spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                connect(&cx).and_then(|io| StreamThread::new(index, io, WallClock, &cx).run())
            }));
            let failure = match run {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".to_string());
                    format!("stream thread panicked: {what}")
                }
            };
            tracing::error!(error = %failure, "stream thread failed");
            *cx.shared.failure.lock() = Some(failure);
        })
        .map_err(|source| Error::Io { context: "starting a stream thread".into(), source })
}

/// A task waiting for its state store's lock, and what was polled for it meanwhile.
struct Locked {
    /// When opening it first failed (clock ms).
    since: i64,
    /// When to try again (clock ms).
    next_try: i64,
    /// Records polled for it: (source index, record).
    buffered: Vec<(usize, InputRecord)>,
}

/// A stream thread: its tasks, its connection and its clock.
pub(crate) struct StreamThread<'a, I: StreamIo, C: Clock> {
    index: usize,
    io: I,
    clock: C,
    topology: &'a Topology,
    setup: TaskSetup<'a>,
    config: &'a StreamsConfig,
    shared: &'a Shared,
    tasks: Tasks,
    /// Since when (clock ms) a task has had buffered input it could not process.
    waiting: HashMap<TaskId, i64>,
    /// Counters of tasks this thread no longer runs.
    retired: TaskMetrics,
    /// Assigned tasks whose state store was locked when they were opened.
    locked: BTreeMap<TaskId, Locked>,
    last_commit: i64,
    idle: bool,
    backoff: Duration,
}

impl<'a, I: StreamIo, C: Clock> StreamThread<'a, I, C> {
    /// A thread with no tasks yet (the first pass asks `io` for its assignment).
    pub fn new(index: usize, io: I, clock: C, cx: &'a ThreadContext) -> Self {
        let config = &cx.config;
        let last_commit = clock.now_ms();
        StreamThread {
            index,
            io,
            clock,
            topology: &cx.topology,
            setup: TaskSetup {
                application_id: &config.application_id,
                state: &config.state,
                plan: &cx.plan,
                timing: config.timing(),
            },
            config,
            shared: &cx.shared,
            tasks: Tasks::new(),
            waiting: HashMap::new(),
            retired: TaskMetrics::default(),
            locked: BTreeMap::new(),
            last_commit,
            idle: false,
            backoff: MIN_BACKOFF,
        }
    }

    /// Runs passes until the application shuts down, then commits a last time.
    pub fn run(mut self) -> Result<()> {
        loop {
            let stopping = self.shared.shutdown.load(Ordering::Acquire);
            self.follow_assignment()?;
            self.retry_locked()?;
            let polled = self.poll()?;
            let (data, work) = self.process()?;
            if stopping || self.commit_due() {
                self.commit(stopping)?;
            }
            if stopping {
                return Ok(());
            }
            self.settle(polled + data, work);
        }
    }

    /// Opens newly assigned tasks and drops revoked ones.
    fn follow_assignment(&mut self) -> Result<()> {
        let Some(assigned) = self.io.assignment()? else { return Ok(()) };
        let revoked: Vec<TaskId> = self.tasks.keys().filter(|id| !assigned.contains(id)).copied().collect();
        for id in revoked {
            if let Some(task) = self.tasks.remove(&id) {
                tracing::info!(task = %id, "task revoked by rebalance");
                self.retired += task.ctx.metrics;
            }
            self.waiting.remove(&id);
            self.io.release(id);
        }
        // Records kept for a task that moved on before it could open belong to its new owner,
        // which reads them again from the committed position.
        self.locked.retain(|id, _| assigned.contains(id));
        for id in assigned {
            if !self.tasks.contains_key(&id) && !self.locked.contains_key(&id) {
                tracing::debug!(task = %id, "task assigned");
                self.open(id)?;
            }
        }
        Ok(())
    }

    /// Tries again to open the tasks whose state store was locked, when their time has come.
    fn retry_locked(&mut self) -> Result<()> {
        let now = self.clock.now_ms();
        let due: Vec<TaskId> =
            self.locked.iter().filter(|(_, l)| l.next_try <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.open(id)?;
        }
        Ok(())
    }

    /// Opens task `id` where the connection says it starts. A task whose state store is
    /// locked is kept in `locked` to be tried again, for up to [`LOCKED_PATIENCE`].
    fn open(&mut self, id: TaskId) -> Result<()> {
        let sources = &self.topology.subtopologies[id.subtopology].sources;
        let starts = self.io.start(id, sources)?;
        let now = self.clock.now_ms();
        let reader: Option<&mut dyn crate::state::changelog::ChangelogReader> =
            if self.config.state_changelogs { Some(&mut self.io) } else { None };
        match open_task(self.topology, &self.setup, id, &starts, now, reader) {
            Ok(mut task) => {
                if self.config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
                    && let Some(changelog) = &mut task.changelog
                {
                    changelog.exactly_once()?;
                }
                if let Some(locked) = self.locked.remove(&id) {
                    tracing::info!(task = %id, "state store unlocked; task opened");
                    for (source, record) in locked.buffered {
                        task.push(source, std::iter::once(record), now);
                    }
                }
                self.tasks.insert(id, task);
                Ok(())
            }
            Err(Error::StoreLocked { store, reason }) => {
                let locked = self.locked.entry(id).or_insert(Locked {
                    since: now,
                    next_try: now,
                    buffered: Vec::new(),
                });
                if now - locked.since >= LOCKED_PATIENCE.as_millis() as i64 {
                    return Err(Error::StoreLocked { store, reason });
                }
                tracing::debug!(task = %id, %store, "state store locked; trying again");
                locked.next_try = now + LOCKED_RETRY.as_millis() as i64;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Polls into the tasks' buffers; returns how many data records arrived.
    fn poll(&mut self) -> Result<usize> {
        let fetched = self.io.poll(&mut self.tasks, &self.clock)?;
        for (id, source, record) in fetched.unowned {
            if !self.tasks.contains_key(&id) && !self.locked.contains_key(&id) {
                self.open(id)?;
            }
            if let Some(locked) = self.locked.get_mut(&id) {
                locked.buffered.push((source, record));
                continue;
            }
            let now = self.clock.now_ms();
            if let Some(task) = self.tasks.get_mut(&id) {
                task.push(source, std::iter::once(record), now);
            }
        }
        Ok(fetched.data)
    }

    /// Fills, processes and writes the outputs of every task; returns the data records read
    /// and the work done.
    fn process(&mut self) -> Result<(usize, usize)> {
        let max_idle = self.config.max_task_idle.as_millis() as i64;
        let (mut data, mut work) = (0, 0);
        for task in self.tasks.values_mut() {
            data += self.io.fill(task, &self.clock)?;
            let now = self.clock.now_ms();
            task.stop_waiting = self.waiting.get(&task.id).is_some_and(|since| now - since >= max_idle);
            let n = process_task(task, &self.clock, &self.shared.errors)?;
            if n == 0 && task.buffers.iter().any(|b| !b.is_empty()) {
                self.waiting.entry(task.id).or_insert(now);
            } else {
                self.waiting.remove(&task.id);
            }
            work += n;
            let handler = self.config.production_exception_handler.as_ref();
            let skipped =
                write_outputs(&mut self.io, self.topology, Some((handler, task.id)), &mut task.ctx.output)?;
            task.ctx.metrics.records_skipped += skipped;
            if let Some(changelog) = &task.changelog {
                write_outputs(&mut self.io, self.topology, None, &mut changelog.log.take())?;
            }
        }
        Ok((data, work))
    }

    fn commit_due(&self) -> bool {
        self.clock.now_ms() - self.last_commit >= self.config.commit_interval.as_millis() as i64
    }

    /// Flushes state, then has the connection make outputs durable and commit positions.
    /// A commit that fails because the tasks moved (exactly-once: the transaction was aborted)
    /// drops every task; they open again from the committed positions and changelogs.
    fn commit(&mut self, closing: bool) -> Result<()> {
        let mut checkpoint = checkpoint(self.tasks.values_mut())?;
        write_outputs(&mut self.io, self.topology, None, &mut checkpoint.changes)?;
        let written = match self.io.commit(checkpoint.positions) {
            Err(Error::TaskMigrated(reason)) if !closing => {
                tracing::warn!(%reason, "commit aborted; closing every task to reopen it from the last commit");
                let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
                for id in ids {
                    if let Some(task) = self.tasks.remove(&id) {
                        self.retired += task.ctx.metrics;
                    }
                    self.waiting.remove(&id);
                    self.io.release(id);
                }
                self.last_commit = self.clock.now_ms();
                return Ok(());
            }
            other => other?,
        };
        committed(self.tasks.values_mut(), &written, closing)?;
        let mut metrics = checkpoint.metrics;
        metrics += self.retired;
        self.shared.metrics.lock()[self.index] = metrics;
        self.last_commit = self.clock.now_ms();
        Ok(())
    }

    /// Counts the thread idle or active for [`super::KafkaStreams::wait_until_idle`], and
    /// sleeps after a pass without work if the connection's fetch does not wait itself.
    fn settle(&mut self, data: usize, work: usize) {
        // A buffered record or a report still to go out keeps the thread from counting as
        // idle: its readers' windows are not closed yet.
        let pending = !self.locked.is_empty()
            || self.tasks.values().any(|t| t.buffers.iter().any(|b| !b.is_empty()) || t.report_pending());
        let quiet = data == 0 && work == 0 && !pending;
        if self.io.caught_up(quiet) {
            if !self.idle {
                self.idle = true;
                self.shared.idle_threads.fetch_add(1, Ordering::AcqRel);
            }
        } else {
            if self.idle {
                self.idle = false;
                self.shared.idle_threads.fetch_sub(1, Ordering::AcqRel);
            }
            self.shared.activity.fetch_add(1, Ordering::AcqRel);
        }
        if self.io.fetch_waits() {
            return;
        }
        if work == 0 {
            std::thread::sleep(self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        } else {
            self.backoff = MIN_BACKOFF;
        }
    }
}

/// Writes queued outputs: records for a callback sink go to the callback, every other run of
/// records for one topic to the connection. A record the cluster refuses goes to the handler
/// of the task that wrote it (`on_refused`), or fails the thread when there is none (changelog
/// records: skipping one would corrupt the store restored from it). Returns how many were
/// skipped.
fn write_outputs(
    io: &mut impl StreamIo,
    topology: &Topology,
    on_refused: Option<(&dyn ProductionExceptionHandler, TaskId)>,
    output: &mut Vec<OutputRecord>,
) -> Result<u64> {
    let mut skipped = 0;
    for run in output.chunk_by(|a, b| a.topic == b.topic) {
        let topic = &run[0].topic;
        match topology.callback(topic) {
            Some(callback) => run.iter().for_each(|r| callback(r)),
            None => {
                for rejected in io.write(topic, run)? {
                    let Some((handler, task)) = on_refused else { return Err(rejected.error) };
                    skipped += handle_rejected(io, handler, task, rejected)?;
                }
            }
        }
    }
    output.clear();
    Ok(skipped)
}

/// Asks `handler` about a record of `task` the cluster refused: fails the thread with the
/// refusal, or skips the record and writes what the handler gives instead (which must not be
/// refused in turn). Returns 1 (the record skipped) or the error.
fn handle_rejected(
    io: &mut impl StreamIo,
    handler: &dyn ProductionExceptionHandler,
    task: TaskId,
    rejected: Rejected,
) -> Result<u64> {
    let failed = FailedOutput { task, record: &rejected.record, error: &rejected.error };
    match handler.handle(&failed) {
        ProductionResponse::Fail => Err(rejected.error),
        ProductionResponse::Continue(instead) => {
            for run in instead.chunk_by(|a, b| a.topic == b.topic) {
                if let Some(again) = io.write(&run[0].topic, run)?.into_iter().next() {
                    return Err(again.error);
                }
            }
            Ok(1)
        }
    }
}
