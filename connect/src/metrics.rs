//! Counters of a running connector, and the status the CLI and `DESCRIBE CONNECTOR` show.
//!
//! Counters are committed with the connector's position (see [`crate::checkpoint`]), so they
//! survive restarts and count every input line exactly once even across a crash.
//!
//! **Health.** A running connector whose recent input is mostly dead-lettered — more than half
//! of the last [`HEALTH_WINDOW`]–2×[`HEALTH_WINDOW`] records, once at least
//! [`HEALTH_MIN_RECORDS`] came in — is shown `DEGRADED (…)` with the counts and the last error
//! instead of `RUNNING`. (With `'errors.tolerance'='none'` the first bad record stops it instead:
//! `FAILED (…)`.)

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Counter values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSnapshot {
    /// Input units consumed: lines or CSV records (sources), records read (sinks).
    pub records_in: u64,
    /// Records written: to the topic (sources), to output files (sinks, once the file is complete).
    pub records_out: u64,
    /// Malformed lines sent to the dead-letter topic.
    pub dlq: u64,
    /// Input units that produced nothing: blank lines, tombstone lines after deletes, replayed
    /// change events, CSV headers.
    pub skipped: u64,
    /// Replayed change events among `skipped`.
    pub duplicates: u64,
    /// Bytes of input consumed.
    pub bytes_in: u64,
    /// Sources: files read to their current end; sinks: output files completed.
    pub files_done: u64,
    /// Sources: files seen.
    pub files_seen: u64,
}

/// The lifecycle state of a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
pub enum ConnectorState {
    /// Starting or recovering its position.
    Starting,
    /// Running.
    Running,
    /// A `once` connector reached the end of its input.
    Finished,
    /// Failed; it is retried after a pause. The reason says what went wrong.
    Failed(String),
    /// Running, but most recent input was dead-lettered; the reason gives counts and the last
    /// error.
    Degraded(String),
    /// Stopped (dropped, or the process is shutting down).
    Stopped,
}

impl std::fmt::Display for ConnectorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorState::Starting => f.write_str("STARTING"),
            ConnectorState::Running => f.write_str("RUNNING"),
            ConnectorState::Finished => f.write_str("FINISHED"),
            ConnectorState::Failed(reason) => write!(f, "FAILED ({reason})"),
            ConnectorState::Degraded(reason) => write!(f, "DEGRADED ({reason})"),
            ConnectorState::Stopped => f.write_str("STOPPED"),
        }
    }
}

/// Live counters of one connector, shared between its thread and observers.
#[derive(Debug)]
pub struct Metrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    dlq: AtomicU64,
    skipped: AtomicU64,
    duplicates: AtomicU64,
    bytes_in: AtomicU64,
    files_done: AtomicU64,
    files_seen: AtomicU64,
    state: Mutex<ConnectorState>,
    last_error: Mutex<Option<String>>,
    recent: Mutex<Recent>,
}

/// Input records per health window.
pub const HEALTH_WINDOW: u64 = 1000;
/// Fewest recent input records on which a connector is judged.
pub const HEALTH_MIN_RECORDS: u64 = 20;

/// (records in, dead-lettered) of the current and the previous health window.
#[derive(Debug, Default)]
struct Recent {
    current: (u64, u64),
    previous: (u64, u64),
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            dlq: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            files_seen: AtomicU64::new(0),
            state: Mutex::new(ConnectorState::Starting),
            last_error: Mutex::new(None),
            recent: Mutex::new(Recent::default()),
        }
    }
}

/// Which counter to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// [`MetricsSnapshot::records_in`].
    RecordsIn,
    /// [`MetricsSnapshot::records_out`].
    RecordsOut,
    /// [`MetricsSnapshot::dlq`].
    Dlq,
    /// [`MetricsSnapshot::skipped`].
    Skipped,
    /// [`MetricsSnapshot::duplicates`].
    Duplicates,
    /// [`MetricsSnapshot::bytes_in`].
    BytesIn,
    /// [`MetricsSnapshot::files_done`].
    FilesDone,
}

impl Metrics {
    fn counter(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::RecordsIn => &self.records_in,
            Counter::RecordsOut => &self.records_out,
            Counter::Dlq => &self.dlq,
            Counter::Skipped => &self.skipped,
            Counter::Duplicates => &self.duplicates,
            Counter::BytesIn => &self.bytes_in,
            Counter::FilesDone => &self.files_done,
        }
    }

    /// Adds `n` to a counter.
    pub fn add(&self, c: Counter, n: u64) {
        self.counter(c).fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the file gauges (sources).
    pub fn set_files(&self, seen: u64, done: u64) {
        self.files_seen.store(seen, Ordering::Relaxed);
        self.files_done.store(done, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            records_in: get(&self.records_in),
            records_out: get(&self.records_out),
            dlq: get(&self.dlq),
            skipped: get(&self.skipped),
            duplicates: get(&self.duplicates),
            bytes_in: get(&self.bytes_in),
            files_done: get(&self.files_done),
            files_seen: get(&self.files_seen),
        }
    }

    /// Restores counters from a committed snapshot (after a restart).
    pub fn restore(&self, s: &MetricsSnapshot) {
        let set = |a: &AtomicU64, v| a.store(v, Ordering::Relaxed);
        set(&self.records_in, s.records_in);
        set(&self.records_out, s.records_out);
        set(&self.dlq, s.dlq);
        set(&self.skipped, s.skipped);
        set(&self.duplicates, s.duplicates);
        set(&self.bytes_in, s.bytes_in);
        set(&self.files_done, s.files_done);
        set(&self.files_seen, s.files_seen);
    }

    /// The lifecycle state; a running connector whose recent input was mostly dead-lettered is
    /// [`ConnectorState::Degraded`].
    pub fn state(&self) -> ConnectorState {
        let state = self.state.lock().clone();
        if state != ConnectorState::Running {
            return state;
        }
        let (records, dead) = {
            let r = self.recent.lock();
            (r.current.0 + r.previous.0, r.current.1 + r.previous.1)
        };
        if records < HEALTH_MIN_RECORDS || dead * 2 <= records {
            return state;
        }
        let last = self.last_error().unwrap_or_default();
        ConnectorState::Degraded(format!(
            "{dead} of the last {records} records dead-lettered; last error: {last}"
        ))
    }

    /// Counts recent input for the health check: `records` came in, `dead` of them were
    /// dead-lettered.
    pub fn observe_recent(&self, records: u64, dead: u64) {
        let mut r = self.recent.lock();
        r.current.0 += records;
        r.current.1 += dead;
        if r.current.0 >= HEALTH_WINDOW {
            r.previous = std::mem::take(&mut r.current);
        }
    }

    /// Changes the lifecycle state.
    pub fn set_state(&self, s: ConnectorState) {
        *self.state.lock() = s;
    }

    /// The most recent error (a failure, or a problem the connector worked around).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Records an error message.
    pub fn set_error(&self, e: impl Into<String>) {
        *self.last_error.lock() = Some(e.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mostly_dead_lettered_input_degrades_a_running_connector() {
        let m = Metrics::default();
        m.set_state(ConnectorState::Running);
        m.observe_recent(10, 10);
        assert_eq!(m.state(), ConnectorState::Running, "too few records to judge");
        m.set_error("f:3: not valid JSON");
        m.observe_recent(30, 20);
        let ConnectorState::Degraded(reason) = m.state() else { panic!("{}", m.state()) };
        assert_eq!(reason, "30 of the last 40 records dead-lettered; last error: f:3: not valid JSON");
        assert!(m.state().to_string().starts_with("DEGRADED (30 of the last 40"));
        // Good input pushes the bad records out of the windows.
        m.observe_recent(HEALTH_WINDOW, 0);
        m.observe_recent(HEALTH_WINDOW, 0);
        assert_eq!(m.state(), ConnectorState::Running);
        m.set_state(ConnectorState::Stopped);
        m.observe_recent(100, 100);
        assert_eq!(m.state(), ConnectorState::Stopped, "only a running connector degrades");
    }
}
