//! The runtime: runs a topology's tasks on threads, reading from and writing to a broker.
//!
//! ```text
//!  KafkaStreams::start(topology, config)
//!     ├─ topics::prepare_topics: sources exist, internal and sink topics created,
//!     │                          sub-topologies' sources co-partitioned   (over a TopicAdmin)
//!     └─ N stream threads (stream_thread::StreamThread), each over a StreamIo:
//!           loop { assignment ─► open_task for new tasks
//!                  poll / fill ─► RunningTask::push ─► process_task (records, then
//!                  advance/punctuate)
//!                  ─► write outputs (a record the cluster refuses: the
//!                     production::ProductionExceptionHandler fails or skips it)
//!                  every commit interval: checkpoint (flush state) ─► outputs durable ─► commit
//!                  positions with watermark metadata
//!                  settle: idle / activity for wait_until_idle }
//! ```
//!
//! There is one task runner. A task's life — [`lifecycle::open_task`] (its state backend and
//! processors), [`lifecycle::process_task`] and [`lifecycle::checkpoint`] — is written once in
//! [`lifecycle`], around the [`task_runner::RunningTask`] that owns buffering, event time and
//! watermark reports; the loop that drives those steps is written once in `stream_thread`
//! and reads its time from a [`clock::Clock`]. What differs between connections sits behind
//! the small `io::StreamIo` trait (which tasks a thread owns, fetch, "caught up", write,
//! commit) and `topics::TopicAdmin`:
//!
//! * [`Connection::Embedded`] reads and writes an in-process broker without sockets, with a
//!   static task assignment (`embedded`);
//! * [`Connection::Kafka`] uses librdkafka against any Kafka-protocol cluster (Brook's own
//!   server or Apache Kafka), where instances of the same application share partitions
//!   through a consumer group named after the application id — the way Kafka Streams scales
//!   out (`kafka`);
//! * the [`crate::test_driver::TopologyTestDriver`] and the in-process benchmark driver run
//!   the same lifecycle steps synchronously, with a [`clock::ManualClock`] or the wall clock,
//!   and route outputs into inputs themselves.
//!
//! Every state store is backed by a compacted changelog topic and restored from it when its
//! task opens without the local state (`crate::state::changelog`). Offsets are committed after
//! state is flushed and outputs and changelog records are acknowledged, so processing is
//! at-least-once; with [`ProcessingGuarantee::ExactlyOnceV2`] (Kafka connection only) outputs,
//! changelog records and offsets of each commit interval commit in one Kafka transaction.

pub mod clock;
mod embedded;
mod io;
mod kafka;
pub mod lifecycle;
pub mod production;
mod stream_thread;
pub mod task_runner;
pub(crate) mod topics;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::state::StateConfig;
use crate::task::{ProcessingError, TaskMetrics};
use crate::topology::Topology;
use production::{FailOnProductionError, ProductionExceptionHandler};

pub use brook_client::Connection;

/// Where a task starts when its group has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// From the beginning of each partition.
    Earliest,
    /// From the end (only new records).
    Latest,
}

/// What a crash may do to results (Kafka Streams' `processing.guarantee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// `at_least_once`: nothing is lost; after a crash, records since the last commit are
    /// processed again (their outputs may appear twice).
    #[default]
    AtLeastOnce,
    /// `exactly_once_v2`: input offsets, changelog records and outputs of each commit interval
    /// commit in one Kafka transaction; consumers reading with `read_committed` see every result
    /// once. Needs a Kafka connection (Brook's server or any Kafka cluster).
    ExactlyOnceV2,
}

impl std::str::FromStr for ProcessingGuarantee {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "at_least_once" => Ok(ProcessingGuarantee::AtLeastOnce),
            "exactly_once_v2" => Ok(ProcessingGuarantee::ExactlyOnceV2),
            other => Err(Error::Config(format!(
                "processing.guarantee must be at_least_once or exactly_once_v2, not '{other}'"
            ))),
        }
    }
}

impl std::fmt::Display for ProcessingGuarantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProcessingGuarantee::AtLeastOnce => "at_least_once",
            ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
        })
    }
}

/// Configuration of a streams application.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Names the consumer group, internal topics and state directories.
    pub application_id: String,
    /// The broker.
    pub connection: Connection,
    /// Task state.
    pub state: StateConfig,
    /// Stream threads in this instance.
    pub num_threads: usize,
    /// How often state is flushed and offsets committed.
    pub commit_interval: Duration,
    /// Start position without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Bytes fetched per partition per poll.
    pub fetch_max_bytes: usize,
    /// How long an input partition that is caught up and receives nothing holds back the
    /// task's event time before it counts as idle (Kafka Streams' `max.task.idle.ms`; see
    /// [`crate::time`]). Zero: as soon as it is caught up.
    pub max_task_idle: Duration,
    /// How often a task reports a changed watermark to the readers of its repartition topics.
    pub watermark_interval: Duration,
    /// What happens to an output record the cluster refuses (Kafka Streams'
    /// `default.production.exception.handler`); the default fails the application.
    pub production_exception_handler: Arc<dyn ProductionExceptionHandler>,
    /// Whether state stores are backed by changelog topics (`<application.id>-<store>-changelog`)
    /// and restored from them when a task opens on an instance without its state (default
    /// true; Kafka Streams logs every store unless told not to). Off for throw-away state such
    /// as a transient query's.
    pub state_changelogs: bool,
    /// `processing.guarantee`.
    pub processing_guarantee: ProcessingGuarantee,
}

impl StreamsConfig {
    /// Defaults: one thread, RocksDB state under `state_dir`, 1 s commits, earliest.
    pub fn new(application_id: &str, connection: Connection, state_dir: impl Into<PathBuf>) -> Self {
        StreamsConfig {
            application_id: application_id.to_string(),
            connection,
            state: StateConfig::rocksdb(state_dir),
            num_threads: 1,
            commit_interval: Duration::from_millis(1000),
            auto_offset_reset: OffsetReset::Earliest,
            fetch_max_bytes: 1 << 20,
            max_task_idle: Duration::from_millis(DEFAULT_MAX_TASK_IDLE_MS as u64),
            watermark_interval: Duration::from_millis(200),
            production_exception_handler: Arc::new(FailOnProductionError),
            state_changelogs: true,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
        }
    }

    /// The event-time settings tasks run with.
    pub(crate) fn timing(&self) -> task_runner::EventTiming {
        task_runner::EventTiming {
            idle_timeout_ms: self.max_task_idle.as_millis() as i64,
            report_interval_ms: self.watermark_interval.as_millis() as i64,
        }
    }
}

/// The default of [`StreamsConfig::max_task_idle`], in ms.
pub const DEFAULT_MAX_TASK_IDLE_MS: i64 = 2000;

/// State shared between the application handle and its threads.
pub(crate) struct Shared {
    pub shutdown: AtomicBool,
    /// Latest counters per thread.
    pub metrics: Mutex<Vec<TaskMetrics>>,
    pub errors: Mutex<Vec<ProcessingError>>,
    pub failure: Mutex<Option<String>>,
    /// Threads that found no work in their last full pass.
    pub idle_threads: AtomicU64,
    /// Bumped on every pass that did work.
    pub activity: AtomicU64,
}

/// A running streams application (Kafka Streams' `KafkaStreams`).
pub struct KafkaStreams {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    num_threads: usize,
}

impl KafkaStreams {
    /// Validates the topology against the broker, creates internal topics and starts threads.
    pub fn start(mut topology: Topology, config: StreamsConfig) -> Result<KafkaStreams> {
        if config.num_threads == 0 {
            return Err(Error::Config("num_threads must be at least 1".into()));
        }
        if config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
            && matches!(config.connection, Connection::Embedded(_))
        {
            return Err(Error::Config(
                "processing.guarantee=exactly_once_v2 needs a Kafka connection (a bootstrap address of Brook's server or a Kafka cluster); the embedded connection is at-least-once".into(),
            ));
        }
        topology.resolve_names(&config.application_id);
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            metrics: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            idle_threads: AtomicU64::new(0),
            activity: AtomicU64::new(0),
        });
        let threads = match &config.connection {
            Connection::Embedded(broker) => {
                embedded::start(broker.clone(), topology, &config, shared.clone())?
            }
            Connection::Kafka { .. } => kafka::start(topology, &config, shared.clone())?,
        };
        let num_threads = threads.len();
        Ok(KafkaStreams { shared, threads, num_threads })
    }

    /// Counters summed over all tasks (updated at each commit).
    pub fn metrics(&self) -> TaskMetrics {
        let mut sum = TaskMetrics::default();
        for m in self.shared.metrics.lock().iter() {
            sum += *m;
        }
        sum
    }

    /// Records skipped by processing errors since the last call.
    pub fn take_errors(&self) -> Vec<ProcessingError> {
        std::mem::take(&mut *self.shared.errors.lock())
    }

    /// The error that stopped a thread, if any.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().clone()
    }

    /// Waits until every thread found nothing to process for `quiet` in a row (all input,
    /// including internal topics, consumed), or `timeout` passes. Returns whether it settled.
    pub fn wait_until_idle(&self, quiet: Duration, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut since: Option<(Instant, u64)> = None;
        while Instant::now() < deadline {
            if self.failure().is_some() {
                return false;
            }
            let activity = self.shared.activity.load(Ordering::Acquire);
            let idle = self.shared.idle_threads.load(Ordering::Acquire) as usize == self.num_threads;
            match since {
                Some((t, a)) if idle && a == activity => {
                    if t.elapsed() >= quiet {
                        return true;
                    }
                }
                _ => since = idle.then(|| (Instant::now(), activity)),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Stops all threads after they flush state and commit their progress.
    pub fn close(mut self) -> Result<()> {
        self.stop()
    }

    /// Like [`KafkaStreams::close`], keeping the handle so final metrics can still be read.
    pub fn stop(&mut self) -> Result<()> {
        self.shared.shutdown.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        match self.failure() {
            Some(f) => Err(Error::Processing { operator: "stream thread".into(), reason: f }),
            None => Ok(()),
        }
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
