//! Executors run compiled topologies. The engine decides *what* runs; an executor decides
//! *how*:
//!
//! * `RuntimeExecutor` — the real thing: every persistent query is a
//!   `brook_streams::KafkaStreams` application over the engine's cluster (its own consumer
//!   group and RocksDB state, so it resumes where it left off after a restart); push queries
//!   are transient applications with in-memory state.
//! * `simulated::SimulatedExecutor` — deterministic: every query runs in a
//!   `TopologyTestDriver`, and producing a record synchronously runs every query it reaches.
//!   Used by the sqllogictest suite.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_broker::NewRecord;
use brook_client::{Cluster, Committed};
use brook_streams::state::StateConfig;
use brook_streams::task::TaskMetrics;
use brook_streams::topology::Topology;
use brook_streams::{KafkaStreams, OffsetReset, ProcessingGuarantee, StreamsConfig};

use super::result::Canceller;
use super::service::ServiceNames;
use crate::error::Result;
use crate::operator::log::{LogProductionErrors, ProcessingLog};

/// How one query runs, from the session properties it was started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryOptions {
    /// Where it starts without committed offsets (`auto.offset.reset`).
    pub reset: OffsetReset,
    /// `max.task.idle.ms`: how long an empty input partition holds back event time.
    pub max_task_idle: Duration,
    /// `num.stream.threads`: the query's stream threads (`None`: the engine's default).
    pub num_threads: Option<usize>,
    /// `processing.guarantee`.
    pub processing_guarantee: ProcessingGuarantee,
    /// The consumer's `session.timeout.ms` on a Kafka connection (`None`: librdkafka's): how
    /// long a dead instance keeps its partitions before the group moves them.
    pub session_timeout: Option<Duration>,
    /// `ksql.fail.on.production.error`: an output record the cluster refuses fails the query
    /// (`true`) or is skipped to the processing log (`false`).
    pub fail_on_production_error: bool,
}

impl QueryOptions {
    /// How a persistent query restarts (after a restart of the server, or RESUME): from its
    /// committed offsets, else the earliest, with the options it was created with.
    pub fn restart(info: &crate::catalog::QueryInfo) -> Self {
        QueryOptions {
            reset: OffsetReset::Earliest,
            max_task_idle: info.max_task_idle,
            num_threads: info.num_stream_threads,
            processing_guarantee: info.processing_guarantee,
            session_timeout: info.session_timeout,
            fail_on_production_error: info.fail_on_production_error,
        }
    }
}

/// Runs topologies.
pub(crate) trait Executor: Send {
    /// Starts (or restarts) a persistent query.
    fn start(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<()>;
    /// Stops a persistent query; with `cleanup`, deletes its internal topics and local state.
    fn stop(&mut self, id: &str, cleanup: bool) -> Result<()>;
    /// Writes records to a topic (and, deterministically, runs what they reach).
    fn produce(&mut self, topic: &str, records: Vec<NewRecord>) -> Result<()>;
    /// Starts a push query whose topology delivers rows to a callback sink.
    fn push(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<Canceller>;
    /// Waits until every persistent query has processed all its input.
    fn wait_idle(&self, timeout: Duration) -> bool;
    /// Queries that stopped with an error: (id, message).
    fn failures(&self) -> Vec<(String, String)>;
    /// Records skipped by processing errors since the last call (id, reason).
    fn take_errors(&mut self) -> Vec<(String, String)>;
    /// A running query's counters (records in and out, late records dropped, records skipped).
    fn metrics(&self, id: &str) -> Option<TaskMetrics>;
}

/// Settings of the runtime executor.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Where RocksDB state of persistent queries lives.
    pub state_dir: PathBuf,
    /// Stream threads per persistent query.
    pub threads_per_query: usize,
    /// Commit interval (state flush + offset commit).
    pub commit_interval: Duration,
}

/// Runs queries as streams applications on the engine's cluster.
pub(crate) struct RuntimeExecutor {
    cluster: Arc<dyn Cluster>,
    settings: RuntimeSettings,
    names: ServiceNames,
    /// The processing log's topic (production errors go there when a query continues).
    processing_log: Arc<str>,
    queries: BTreeMap<String, (KafkaStreams, Topology)>,
    /// Distinguishes this process's push queries from an earlier process's: transient ids
    /// restart at 1, and a push query must not resume from the offsets an earlier query with
    /// the same id committed.
    instance: String,
}

impl RuntimeExecutor {
    pub(crate) fn new(
        cluster: Arc<dyn Cluster>,
        settings: RuntimeSettings,
        names: ServiceNames,
        processing_log: &str,
    ) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let instance = format!("{:x}{:x}", nanos, std::process::id());
        RuntimeExecutor {
            cluster,
            settings,
            names,
            processing_log: Arc::from(processing_log),
            queries: BTreeMap::new(),
            instance,
        }
    }

    fn delete_internal(&self, app: &str, topology: &Topology) {
        for name in topology.internal_topic_names(app).into_iter().chain(topology.changelog_topic_names(app))
        {
            if let Err(e) = self.cluster.delete_topic(&name) {
                tracing::debug!(topic = %name, error = %e, "internal topic not deleted");
            }
        }
    }
}

impl RuntimeExecutor {
    /// With `latest`, a new application starts at the end of its sources *now*, not when its
    /// threads get around to it — records written right after the statement returns are seen.
    fn pin_latest(&self, app: &str, topology: &Topology, reset: OffsetReset) -> Result<()> {
        if reset != OffsetReset::Latest {
            return Ok(());
        }
        let mut offsets = Vec::new();
        for topic in topology.source_topics() {
            let Some(n) = self.cluster.partitions(&topic)? else { continue };
            for p in 0..n {
                if self.cluster.committed(app, &topic, p)?.is_some() {
                    continue;
                }
                let (_, end) = self.cluster.offsets(&topic, p)?;
                offsets.push((topic.clone(), p, Committed { offset: end, metadata: String::new() }));
            }
        }
        let positions: Vec<(&str, i32, Committed)> =
            offsets.iter().map(|(t, p, c)| (t.as_str(), *p, c.clone())).collect();
        self.cluster.commit(app, &positions)?;
        Ok(())
    }
}

impl Executor for RuntimeExecutor {
    fn start(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<()> {
        let app = self.names.query_application(id);
        self.pin_latest(&app, &topology, opts.reset)?;
        let mut config = StreamsConfig::new(&app, self.cluster.connection(), &self.settings.state_dir);
        config.num_threads = opts.num_threads.unwrap_or(self.settings.threads_per_query);
        config.commit_interval = self.settings.commit_interval;
        config.auto_offset_reset = opts.reset;
        config.max_task_idle = opts.max_task_idle;
        config.processing_guarantee = opts.processing_guarantee;
        if let (Some(timeout), brook_streams::Connection::Kafka { properties, .. }) =
            (opts.session_timeout, &mut config.connection)
        {
            properties.push(("session.timeout.ms".to_string(), timeout.as_millis().to_string()));
        }
        if !opts.fail_on_production_error {
            let log = ProcessingLog { query_id: Arc::from(id), topic: self.processing_log.clone() };
            config.production_exception_handler = Arc::new(LogProductionErrors(log));
        }
        let streams = KafkaStreams::start(topology.clone(), config)?;
        self.queries.insert(id.to_string(), (streams, topology));
        Ok(())
    }

    fn stop(&mut self, id: &str, cleanup: bool) -> Result<()> {
        let Some((streams, topology)) = self.queries.remove(id) else { return Ok(()) };
        let closed = streams.close();
        if cleanup {
            let app = self.names.query_application(id);
            self.delete_internal(&app, &topology);
            delete_group_offsets(self.cluster.as_ref(), &app);
            let dir = self.settings.state_dir.join(&app);
            if dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        if let Err(e) = closed {
            tracing::warn!(query = id, error = %e, "query stopped with an error");
        }
        Ok(())
    }

    fn produce(&mut self, topic: &str, records: Vec<NewRecord>) -> Result<()> {
        let placed = self.cluster.produce(topic, None, records)?;
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, o) in placed {
            let e = ends.entry(p).or_insert(0);
            *e = (*e).max(o + 1);
        }
        for (p, end) in ends {
            self.cluster.sync(topic, p, end)?;
        }
        Ok(())
    }

    fn push(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<Canceller> {
        let app = self.names.transient_application(id, &self.instance);
        self.pin_latest(&app, &topology, opts.reset)?;
        let mut config = StreamsConfig::new(&app, self.cluster.connection(), &self.settings.state_dir);
        config.state = StateConfig::Memory;
        config.state_changelogs = false;
        config.commit_interval = Duration::from_millis(200);
        config.auto_offset_reset = opts.reset;
        config.max_task_idle = opts.max_task_idle;
        let streams = KafkaStreams::start(topology.clone(), config)?;
        let cluster = self.cluster.clone();
        Ok(Box::new(move || {
            let _ = streams.close();
            for t in &topology.internal_topics {
                let _ = cluster.delete_topic(&format!("{app}-{}", t.suffix));
            }
            delete_group_offsets(cluster.as_ref(), &app);
        }))
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        for (streams, _) in self.queries.values() {
            let left = deadline.saturating_duration_since(Instant::now());
            if !streams.wait_until_idle(Duration::from_millis(50), left) {
                return false;
            }
        }
        true
    }

    fn failures(&self) -> Vec<(String, String)> {
        self.queries.iter().filter_map(|(id, (s, _))| s.failure().map(|f| (id.clone(), f))).collect()
    }

    fn metrics(&self, id: &str) -> Option<TaskMetrics> {
        self.queries.get(id).map(|(s, _)| s.metrics())
    }

    fn take_errors(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (id, (s, _)) in &self.queries {
            out.extend(
                s.take_errors().into_iter().map(|e| (id.clone(), format!("{}: {}", e.operator, e.reason))),
            );
        }
        out
    }
}

/// Removes the committed offsets of a query's consumer group once the query is gone (a
/// cancelled push query, a terminated persistent one), so they do not pile up in
/// `__consumer_offsets`.
fn delete_group_offsets(cluster: &dyn Cluster, group: &str) {
    if let Err(e) = cluster.delete_group(group) {
        tracing::warn!(group, error = %e, "cannot delete the offsets of a finished query");
    }
}
