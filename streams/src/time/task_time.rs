//! [`TaskTime`]: a task's event time (its watermark), the minimum over its inputs.
//!
//! Each source of a task has a [`SourceClock`] that says how its progress is known:
//!
//! * [`SourceClock::Records`] — a topic outside producers write: the partition has come as far
//!   as the largest event time read from it.
//! * [`SourceClock::Writers`] — an internal topic Brook's own tasks write (a repartition
//!   topic): records from all writers are interleaved in arrival order, so the largest time
//!   seen says nothing about a slower writer. The partition has come as far as the *slowest*
//!   writer reports ([`super::WatermarkReport`]); until every expected writer has reported,
//!   it holds the task back.
//! * [`SourceClock::Untimed`] — an internal topic on a cycle of the topology (the responses of
//!   a foreign-key join): waiting on it would wait on oneself, so it never holds time back.
//!
//! An input is **idle** when there is nothing to wait for: for `Records`, its buffer is empty,
//! the reader has caught up with the partition's end, and no record has arrived for the idle
//! timeout (`max.task.idle.ms`) — never while data is known to be waiting, so a slow reader is
//! not mistaken for an empty partition; for `Writers`, when every writer reports itself idle.
//! Idle inputs leave the minimum; when every input is idle the task's time is the largest of
//! theirs (all data there is has been processed). The watermark never goes back: an input that
//! wakes up behind it rejoins, and its records are judged against the watermark as it is.

use crate::task::TaskId;
use crate::time::WatermarkReport;

/// How the event time of one task source is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceClock {
    /// From the event times of the records read.
    Records,
    /// From the reports of these writer tasks (all must report before time moves).
    Writers(Vec<TaskId>),
    /// Not at all: the source never holds the task's time back.
    Untimed,
}

#[derive(Debug, Clone)]
struct Input {
    clock: SourceClock,
    /// `Records`: the largest event time read.
    seen: i64,
    /// Wall-clock time (ms) the last record arrived, or the task started.
    last_data: i64,
    idle: bool,
    /// `Writers`: the latest report of each writer (expected ones first, `None` until heard).
    writers: Vec<(TaskId, Option<(i64, bool)>)>,
}

impl Input {
    fn timed(&self) -> bool {
        self.clock != SourceClock::Untimed
    }

    /// The input's event time: for writers, the minimum over those not idle (the maximum when
    /// all are), and nothing (`i64::MIN`) while one has not reported yet.
    fn value(&self) -> i64 {
        match self.clock {
            SourceClock::Records => self.seen,
            SourceClock::Untimed => i64::MIN,
            SourceClock::Writers(_) => {
                let mut active = i64::MAX;
                let mut any_active = false;
                let mut all = i64::MIN;
                for (_, w) in &self.writers {
                    let Some((wm, idle)) = w else { return i64::MIN };
                    all = all.max(*wm);
                    if !idle {
                        any_active = true;
                        active = active.min(*wm);
                    }
                }
                if any_active { active } else { all }
            }
        }
    }
}

/// The event time of one task. See the module docs.
#[derive(Debug, Clone)]
pub struct TaskTime {
    inputs: Vec<Input>,
    watermark: i64,
    idle_timeout: i64,
}

impl TaskTime {
    /// A task reading sources with these clocks, started at wall-clock `now` (ms); inputs go
    /// idle after `idle_timeout_ms` without records (0 or less: as soon as they are caught up).
    pub fn new(clocks: Vec<SourceClock>, idle_timeout_ms: i64, now: i64) -> Self {
        let inputs = clocks
            .into_iter()
            .map(|clock| {
                let writers = match &clock {
                    SourceClock::Writers(ids) => ids.iter().map(|id| (*id, None)).collect(),
                    _ => Vec::new(),
                };
                Input { clock, seen: i64::MIN, last_data: now, idle: false, writers }
            })
            .collect();
        TaskTime { inputs, watermark: i64::MIN, idle_timeout: idle_timeout_ms.max(0) }
    }

    /// The task's event time: windows close and lateness is judged against it. `i64::MIN`
    /// until every input has made progress (or gone idle).
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Whether every timed input is idle (the task then reports itself idle to its readers).
    pub fn idle(&self) -> bool {
        self.inputs.iter().filter(|i| i.timed()).all(|i| i.idle)
    }

    /// The clock of source `source`.
    pub fn clock(&self, source: usize) -> Option<&SourceClock> {
        self.inputs.get(source).map(|i| &i.clock)
    }

    /// Records arrived for `source` at wall-clock `now`: it is not idle.
    pub fn on_records(&mut self, source: usize, now: i64) {
        if let Some(i) = self.inputs.get_mut(source) {
            i.last_data = now;
            i.idle = false;
        }
    }

    /// The processors read records of `source` with event times up to `max`.
    pub fn on_event_time(&mut self, source: usize, max: i64) {
        if let Some(i) = self.inputs.get_mut(source)
            && i.clock == SourceClock::Records
        {
            i.seen = i.seen.max(max);
        }
    }

    /// A writer's report arrived on `source`. A writer's time never goes back: a restarted
    /// writer that reports less than before is held at what it said before.
    pub fn on_report(&mut self, source: usize, report: &WatermarkReport) {
        let Some(i) = self.inputs.get_mut(source) else { return };
        if !matches!(i.clock, SourceClock::Writers(_)) {
            return;
        }
        let slot = match i.writers.iter().position(|(id, _)| *id == report.writer) {
            Some(p) => &mut i.writers[p].1,
            None => {
                i.writers.push((report.writer, None));
                &mut i.writers.last_mut().expect("just pushed").1
            }
        };
        let wm = slot.map_or(report.watermark, |(old, _)| old.max(report.watermark));
        *slot = Some((wm, report.idle));
    }

    /// The latest report of each writer of `source` heard from (for checkpoints).
    pub fn writer_reports(&self, source: usize) -> Vec<WatermarkReport> {
        let Some(i) = self.inputs.get(source) else { return Vec::new() };
        i.writers
            .iter()
            .filter_map(|(writer, w)| {
                w.map(|(watermark, idle)| WatermarkReport { writer: *writer, watermark, idle })
            })
            .collect()
    }

    /// Re-evaluates which inputs are idle at wall-clock `now` (`drained(source)`: its buffer
    /// is empty and the reader is at the partition's end) and moves the watermark. Returns
    /// whether the watermark or the task's idleness changed.
    pub fn refresh(&mut self, now: i64, drained: impl Fn(usize) -> bool) -> bool {
        let was_idle = self.idle();
        for (s, i) in self.inputs.iter_mut().enumerate() {
            i.idle = match i.clock {
                SourceClock::Records => drained(s) && now.saturating_sub(i.last_data) >= self.idle_timeout,
                SourceClock::Writers(_) => i.writers.iter().all(|(_, w)| matches!(w, Some((_, true)))),
                SourceClock::Untimed => true,
            };
        }
        let timed = self.inputs.iter().filter(|i| i.timed());
        let (mut active, mut any_active, mut all, mut any) = (i64::MAX, false, i64::MIN, false);
        for i in timed {
            any = true;
            let v = i.value();
            all = all.max(v);
            if !i.idle {
                any_active = true;
                active = active.min(v);
            }
        }
        let candidate = match (any_active, any) {
            (true, _) => active,
            (false, true) => all,
            (false, false) => i64::MIN,
        };
        let before = self.watermark;
        self.watermark = self.watermark.max(candidate);
        before != self.watermark || was_idle != self.idle()
    }

    /// The most a batch of `source` can move event time to, whatever its records say: for a
    /// `Records` source, the minimum over the other inputs that are not idle (they have not
    /// come further); records of other sources move nothing (`i64::MIN`).
    pub fn cap(&self, source: usize) -> i64 {
        match self.inputs.get(source).map(|i| &i.clock) {
            Some(SourceClock::Records) => self
                .inputs
                .iter()
                .enumerate()
                .filter(|(s, i)| *s != source && i.timed() && !i.idle)
                .map(|(_, i)| i.value())
                .min()
                .unwrap_or(i64::MAX),
            _ => i64::MIN,
        }
    }

    /// Which input holds the watermark back, for operators wondering why windows do not
    /// close: `(source index, writer)` of the smallest active input.
    pub fn held_by(&self) -> Option<(usize, Option<TaskId>)> {
        let (s, i) = self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, i)| i.timed() && !i.idle)
            .min_by_key(|(_, i)| i.value())?;
        let writer = i
            .writers
            .iter()
            .filter(|(_, w)| !matches!(w, Some((_, true))))
            .min_by_key(|(_, w)| w.map_or(i64::MIN, |(wm, _)| wm))
            .map(|(id, _)| *id);
        Some((s, writer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: i32) -> TaskId {
        TaskId { subtopology: 0, partition: p }
    }

    fn report(p: i32, watermark: i64, idle: bool) -> WatermarkReport {
        WatermarkReport { writer: w(p), watermark, idle }
    }

    const NEVER: i64 = i64::MAX / 4;

    #[test]
    fn records_source_follows_the_largest_time_read() {
        let mut t = TaskTime::new(vec![SourceClock::Records], NEVER, 0);
        assert_eq!(t.cap(0), i64::MAX);
        t.on_records(0, 0);
        t.on_event_time(0, 50);
        t.on_event_time(0, 40);
        assert!(t.refresh(0, |_| false));
        assert_eq!(t.watermark(), 50);
    }

    #[test]
    fn writers_hold_until_all_reported_then_take_the_minimum() {
        let mut t = TaskTime::new(vec![SourceClock::Writers(vec![w(0), w(1)])], NEVER, 0);
        t.on_report(0, &report(0, 100, false));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), i64::MIN, "writer 1 has not reported");
        t.on_report(0, &report(1, 30, false));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 30);
        t.on_report(0, &report(1, 200, false));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
        // Records of a writers-clocked source never move time themselves.
        assert_eq!(t.cap(0), i64::MIN);
        t.on_event_time(0, 10_000);
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
    }

    #[test]
    fn idle_writers_leave_the_minimum_and_all_idle_flushes_the_maximum() {
        let mut t = TaskTime::new(vec![SourceClock::Writers(vec![w(0), w(1)])], NEVER, 0);
        t.on_report(0, &report(0, 100, false));
        t.on_report(0, &report(1, i64::MIN, true));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
        assert!(!t.idle());
        t.on_report(0, &report(0, 120, true));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 120);
        assert!(t.idle());
    }

    #[test]
    fn watermark_never_goes_back_and_writers_never_regress() {
        let mut t = TaskTime::new(vec![SourceClock::Writers(vec![w(0)])], NEVER, 0);
        t.on_report(0, &report(0, 100, false));
        t.refresh(0, |_| true);
        t.on_report(0, &report(0, 40, false)); // a restarted writer
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
        // A writer that wakes up behind the watermark rejoins without moving it back.
        let mut t = TaskTime::new(vec![SourceClock::Writers(vec![w(0), w(1)])], NEVER, 0);
        t.on_report(0, &report(0, 100, false));
        t.on_report(0, &report(1, 5, true));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
        t.on_report(0, &report(1, 50, false));
        t.refresh(0, |_| true);
        assert_eq!(t.watermark(), 100);
    }

    #[test]
    fn an_empty_partition_holds_until_the_idle_timeout_and_only_when_drained() {
        let mut t = TaskTime::new(vec![SourceClock::Records, SourceClock::Records], 1000, 0);
        t.on_records(0, 10);
        t.on_event_time(0, 5000);
        t.refresh(10, |_| true);
        assert_eq!(t.watermark(), i64::MIN, "source 1 has produced nothing yet");
        assert_eq!(t.cap(0), i64::MIN, "source 1 caps what source 0's records can do");
        t.refresh(999, |_| true);
        assert_eq!(t.watermark(), i64::MIN);
        // A backlog is never idle, however long it waits.
        t.refresh(5000, |s| s == 0);
        assert_eq!(t.watermark(), i64::MIN);
        assert!(t.refresh(5000, |_| true));
        assert_eq!(t.watermark(), 5000);
        assert_eq!(t.cap(0), i64::MAX);
        assert_eq!(t.held_by(), None, "everything is idle");
        // Data on the idle source wakes it up; the watermark stays.
        t.on_records(1, 6000);
        t.on_event_time(1, 100);
        t.refresh(6000, |s| s == 0);
        assert_eq!(t.watermark(), 5000);
        assert_eq!(t.held_by(), Some((1, None)));
    }

    #[test]
    fn untimed_sources_never_hold() {
        let mut t = TaskTime::new(vec![SourceClock::Records, SourceClock::Untimed], NEVER, 0);
        t.on_event_time(0, 70);
        t.refresh(0, |_| false);
        assert_eq!(t.watermark(), 70);
        assert_eq!(t.cap(0), i64::MAX);
        assert_eq!(t.cap(1), i64::MIN);
    }

    #[test]
    fn zero_timeout_idles_as_soon_as_drained() {
        let mut t = TaskTime::new(vec![SourceClock::Records, SourceClock::Records], 0, 0);
        t.on_event_time(0, 10);
        t.refresh(0, |s| s == 1);
        assert_eq!(t.watermark(), 10);
    }
}
