//! A task as the runtime runs it: the processors plus per-source input buffers, positions, the
//! rule that interleaves several sources by timestamp, and the task's event time.
//!
//! Every driver — the embedded and Kafka runtimes, the test driver, the in-process benchmark
//! driver — fetches records into [`RunningTask::push`], calls [`RunningTask::process_buffered`]
//! and writes what the task queued in its context's `output`, in order. Event time lives here
//! and nowhere else: watermark reports are taken out of the input before the processors see
//! them, each batch is processed with the task's watermark and cap ([`crate::time`]), the
//! processors are told when the watermark moves, and the task's own reports are queued after
//! its outputs.

use std::collections::VecDeque;

use crate::error::Result;
use crate::record::InputRecord;
use crate::state::changelog::TaskChangelog;
use crate::task::{RecordMeta, TaskContext, TaskId};
use crate::time::{
    SourceClock, SubTopologyTime, TaskTime, WatermarkReport, decode_checkpoint, encode_checkpoint,
};
use crate::topology::TaskProcessor;

/// How often a task reports its watermark, and when its inputs go idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTiming {
    /// An input that is caught up and got nothing for this long is idle (`max.task.idle.ms`).
    pub idle_timeout_ms: i64,
    /// A changed watermark is reported at most this often.
    pub report_interval_ms: i64,
}

impl Default for EventTiming {
    fn default() -> Self {
        EventTiming { idle_timeout_ms: super::DEFAULT_MAX_TASK_IDLE_MS, report_interval_ms: 200 }
    }
}

/// A live task.
pub struct RunningTask {
    /// Task id.
    pub id: TaskId,
    /// Source topics (same order as the sub-topology's).
    pub sources: Vec<String>,
    /// Next offset to fetch, per source.
    pub positions: Vec<i64>,
    /// Offset after the last processed record, per source (what gets committed).
    pub processed: Vec<i64>,
    /// Fetched but unprocessed records, per source.
    pub buffers: Vec<VecDeque<InputRecord>>,
    /// Whether the reader of a source has reached the partition's end.
    pub caught_up: Vec<bool>,
    /// Set by a driver that gave up waiting for sources with nothing buffered (after
    /// `max.task.idle.ms`): what is buffered is processed without them. It does not make
    /// those sources idle for event time.
    pub stop_waiting: bool,
    processor: Box<dyn TaskProcessor>,
    /// The processors' context.
    pub ctx: TaskContext,
    /// The changelogs of the task's stores, when they have them.
    pub changelog: Option<TaskChangelog>,
    time: TaskTime,
    reports_to: Vec<(String, i32)>,
    timing: EventTiming,
    /// When the last report went out, with what it said.
    last_report: Option<(i64, i64, bool)>,
}

impl RunningTask {
    /// Wraps built processors; `positions` are the starting offsets, `time` the task's
    /// sub-topology's entry of [`crate::time::time_plan`], `now` the wall clock in ms.
    pub fn new(
        id: TaskId,
        sources: Vec<String>,
        positions: Vec<i64>,
        processor: Box<dyn TaskProcessor>,
        time: &SubTopologyTime,
        timing: EventTiming,
        now: i64,
    ) -> Self {
        let n = sources.len();
        let mut clocks = time.clocks.clone();
        clocks.resize(n, SourceClock::Records);
        RunningTask {
            id,
            sources,
            processed: positions.clone(),
            positions,
            buffers: (0..n).map(|_| VecDeque::new()).collect(),
            caught_up: vec![false; n],
            stop_waiting: false,
            processor,
            ctx: TaskContext::new(id),
            changelog: None,
            time: TaskTime::new(clocks, timing.idle_timeout_ms, now),
            reports_to: time.reports_to.clone(),
            timing,
            last_report: None,
        }
    }

    /// Buffers records fetched from source `source` at wall-clock `now`.
    pub fn push(&mut self, source: usize, records: impl IntoIterator<Item = InputRecord>, now: i64) {
        let buf = &mut self.buffers[source];
        let before = buf.len();
        buf.extend(records);
        if buf.len() > before {
            self.time.on_records(source, now);
        }
    }

    /// The task's event time.
    pub fn time(&self) -> &TaskTime {
        &self.time
    }

    /// Processes buffered records. With several sources, a source's records are processed
    /// only up to the smallest head timestamp of the other sources, and only while every
    /// source either has buffered records or is caught up — so joins see inputs in time order.
    /// Then tells the processors where the watermark is (if anything was processed or the
    /// watermark moved) and queues the task's watermark reports when due. Returns the number
    /// of records processed, or 1 if none was but the watermark moved (work for whoever waits
    /// until the application is idle: closed windows may have been emitted).
    pub fn process_buffered(&mut self, now: i64) -> Result<usize> {
        self.ctx.set_wall_clock(now);
        let mut total = 0;
        let mut moved = false;
        loop {
            self.take_reports();
            let Some((src, n)) = self.next_run() else { break };
            let run: Vec<InputRecord> = self.buffers[src].drain(..n).collect();
            self.process_run(src, &run)?;
            moved |= self.refresh(now);
            total += run.len();
        }
        moved |= self.refresh(now);
        if total > 0 || moved {
            let wm = self.time.watermark();
            // What operators emit while the watermark moves does not move time itself.
            self.ctx.begin_batch(wm, i64::MIN);
            self.processor.advance(wm, &mut self.ctx)?;
        }
        self.queue_reports(now);
        Ok(if total == 0 && moved { 1 } else { total })
    }

    /// The next run of records to process, as (source, count): the source with the oldest
    /// head, up to the oldest head of the others (and to the next watermark report), at least
    /// one record. `None` when nothing is buffered, or a source with nothing buffered has not
    /// caught up yet (unless the driver stopped waiting).
    fn next_run(&self) -> Option<(usize, usize)> {
        let ready =
            self.stop_waiting || self.buffers.iter().zip(&self.caught_up).all(|(b, c)| !b.is_empty() || *c);
        if !ready {
            return None;
        }
        let (src, _) = self
            .buffers
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.front().map(|r| (i, r.timestamp)))
            .min_by_key(|&(i, ts)| (ts, i))?;
        let limit = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != src)
            .filter_map(|(_, b)| b.front().map(|r| r.timestamp))
            .min()
            .unwrap_or(i64::MAX);
        let reports_here = self.carries_reports(src);
        let buf = &self.buffers[src];
        let mut n = 0;
        while n < buf.len()
            && buf[n].timestamp <= limit
            && !(reports_here && WatermarkReport::is_report(&buf[n]))
        {
            n += 1;
        }
        Some((src, n.max(1)))
    }

    /// Hands one run of records of `src` to the processors at the task's watermark and cap,
    /// and moves the source's event time to what they saw.
    fn process_run(&mut self, src: usize, run: &[InputRecord]) -> Result<()> {
        let last = &run[run.len() - 1];
        self.ctx.current = RecordMeta {
            topic: last.topic.clone(),
            partition: last.partition,
            offset: last.offset,
            timestamp: last.timestamp,
        };
        self.processed[src] = last.offset + 1;
        self.ctx.metrics.records_in += run.len() as u64;
        self.ctx.begin_batch(self.time.watermark(), self.time.cap(src));
        self.processor.process(src, run, &mut self.ctx)?;
        let seen = self.ctx.end_batch();
        self.time.on_event_time(src, seen);
        Ok(())
    }

    fn carries_reports(&self, source: usize) -> bool {
        matches!(self.time.clock(source), Some(SourceClock::Writers(_) | SourceClock::Untimed))
    }

    /// Applies the watermark reports at the heads of the buffers of internal sources.
    fn take_reports(&mut self) {
        for src in 0..self.buffers.len() {
            if !self.carries_reports(src) {
                continue;
            }
            while let Some(r) = self.buffers[src].front() {
                if !WatermarkReport::is_report(r) {
                    break;
                }
                match WatermarkReport::decode(r) {
                    Some(report) => self.time.on_report(src, &report),
                    None => tracing::warn!(
                        task = %self.id, topic = %r.topic, offset = r.offset,
                        "skipping a watermark report this version cannot read"
                    ),
                }
                self.processed[src] = r.offset + 1;
                self.buffers[src].pop_front();
            }
        }
    }

    fn refresh(&mut self, now: i64) -> bool {
        let (buffers, caught_up) = (&self.buffers, &self.caught_up);
        self.time.refresh(now, |s| buffers[s].is_empty() && caught_up[s])
    }

    /// Whether this task's watermark or idleness changed since its last report, so a report
    /// is still to go out: the task is not idle yet, whatever it processed.
    pub fn report_pending(&self) -> bool {
        !self.reports_to.is_empty()
            && match self.last_report {
                None => true,
                Some((_, wm, was_idle)) => wm != self.time.watermark() || was_idle != self.time.idle(),
            }
    }

    /// Queues this task's watermark report to every partition of the internal topics it
    /// writes, after its outputs: first when the task starts, then when the watermark or
    /// idleness changed and the report interval has passed — or a tenth of it, once the task
    /// has drained its inputs (so the readers' windows close soon after the input ends,
    /// without a report per record when records trickle in).
    fn queue_reports(&mut self, now: i64) {
        if !self.report_pending() {
            return;
        }
        let (watermark, idle) = (self.time.watermark(), self.time.idle());
        let drained = self.buffers.iter().zip(&self.caught_up).all(|(b, c)| b.is_empty() && *c);
        let interval =
            if drained { self.timing.report_interval_ms / 10 } else { self.timing.report_interval_ms };
        let due = match self.last_report {
            None => true,
            Some((at, _, _)) => now.saturating_sub(at) >= interval,
        };
        if !due {
            return;
        }
        let report = WatermarkReport { writer: self.id, watermark, idle };
        for (topic, partitions) in &self.reports_to {
            for p in 0..*partitions {
                self.ctx.output.push(report.to_record(topic, p, now));
            }
        }
        self.last_report = Some((now, watermark, idle));
    }

    /// The metadata to commit with the position of `source`: for an internal topic, the
    /// latest report of each of its writers ([`crate::time::encode_checkpoint`]).
    pub fn commit_metadata(&self, source: usize) -> String {
        match self.time.clock(source) {
            Some(SourceClock::Writers(_)) => encode_checkpoint(&self.time.writer_reports(source)),
            _ => String::new(),
        }
    }

    /// Restores what a previous owner of the task committed with the position of `source`.
    pub fn restore(&mut self, source: usize, metadata: &str) {
        for report in decode_checkpoint(metadata) {
            self.time.on_report(source, &report);
        }
    }

    /// Flushes the processors' state.
    pub fn flush(&mut self) -> Result<()> {
        self.processor.flush(&mut self.ctx)
    }
}
