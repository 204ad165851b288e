//! [`ConnectorManager`]: runs many connectors in one process and keeps them across restarts.
//!
//! Each connector runs on its own thread (file I/O blocks; connectors are few). A connector
//! that fails — its directory became unreadable, the broker refused a write — is retried after
//! a pause that grows from 1 s to 30 s; each retry resumes from its last checkpoint, so a
//! failure costs time, never data. Its status shows `FAILED (reason)` meanwhile.
//!
//! In server mode ([`ConnectorManager::open`]) definitions are stored in the compacted topic
//! `_brook_connectors` (key: name, value: the definition as JSON; a drop writes a tombstone)
//! and every stored connector is started again when the server starts. In standalone mode
//! ([`ConnectorManager::standalone`], used by `brook connect run FILE.toml`) definitions come
//! from the caller each time and are not stored; positions are stored in both modes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

use brook_broker::NewRecord;

use crate::checkpoint::{COMPACTED, Checkpoint, OffsetStore};
use crate::config::{ConnectorConfig, ConnectorDefinition, ConnectorKind, Mode};
use crate::error::{Error, Result};
use crate::metrics::{ConnectorState, Metrics, MetricsSnapshot};
use crate::sink::FileSink;
use crate::source::{FileSource, RunEnd, ensure_topics};
use crate::stop::StopSignal;
use brook_client::Cluster;

/// The compacted topic holding connector definitions (server mode).
pub const CONNECTORS_TOPIC: &str = "_brook_connectors";

/// What `SHOW CONNECTORS` and `DESCRIBE CONNECTOR` show about one connector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorStatus {
    /// Name.
    pub name: String,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// The `connector` property: `file` or `parquet`.
    pub connector: String,
    /// The topic written (sources) or read (sinks).
    pub topic: String,
    /// The file or directory read (sources) or written (sinks).
    pub path: String,
    /// Sources: the input format.
    pub format: Option<String>,
    /// Lifecycle state.
    pub state: ConnectorState,
    /// Counters.
    pub metrics: MetricsSnapshot,
    /// The most recent error, if any.
    pub last_error: Option<String>,
    /// All properties as given.
    pub properties: BTreeMap<String, String>,
}

impl ConnectorStatus {
    fn new(
        def: &ConnectorDefinition,
        state: ConnectorState,
        metrics: MetricsSnapshot,
        last_error: Option<String>,
    ) -> Self {
        let prop = |k: &str| def.properties.get(k).cloned().unwrap_or_default();
        ConnectorStatus {
            name: def.name.clone(),
            kind: def.kind,
            connector: prop("connector"),
            topic: prop("topic"),
            path: prop("path"),
            format: def.properties.get("format").cloned(),
            state,
            metrics,
            last_error,
            properties: def.properties.clone(),
        }
    }
}

struct Running {
    def: ConnectorDefinition,
    metrics: Arc<Metrics>,
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

/// Runs connectors; see the [module docs](self).
pub struct ConnectorManager {
    cluster: Arc<dyn Cluster>,
    persistent: bool,
    connectors: Mutex<BTreeMap<String, Running>>,
    /// `once` sources still running; `once` sinks finish only after they are done.
    once_sources: Arc<AtomicUsize>,
    sources_done: Arc<AtomicBool>,
}

impl ConnectorManager {
    /// Server mode: starts every connector stored in `_brook_connectors` and stores new ones.
    pub fn open(cluster: Arc<dyn Cluster>) -> Result<ConnectorManager> {
        let manager = Self::with(cluster, true);
        manager.cluster.ensure_topic(CONNECTORS_TOPIC, 1, COMPACTED)?;
        OffsetStore::ensure(manager.cluster.as_ref())?;
        for def in stored_definitions(manager.cluster.as_ref())?.into_values() {
            manager.start(def)?;
        }
        Ok(manager)
    }

    /// Standalone mode: runs the connectors given to [`ConnectorManager::create`] without
    /// storing their definitions.
    pub fn standalone(cluster: Arc<dyn Cluster>) -> ConnectorManager {
        Self::with(cluster, false)
    }

    fn with(cluster: Arc<dyn Cluster>, persistent: bool) -> ConnectorManager {
        ConnectorManager {
            cluster,
            persistent,
            connectors: Mutex::new(BTreeMap::new()),
            once_sources: Arc::new(AtomicUsize::new(0)),
            sources_done: Arc::new(AtomicBool::new(true)),
        }
    }

    /// `CREATE SOURCE|SINK CONNECTOR`: validates, creates a source's topics if missing (so a
    /// table can be declared over the topic right away), stores (server mode) and starts a
    /// connector.
    pub fn create(&self, def: ConnectorDefinition) -> Result<()> {
        let config = def.config()?;
        if self.connectors.lock().contains_key(&def.name) {
            return Err(Error::ConnectorExists(def.name));
        }
        if let ConnectorConfig::Source(source) = &config {
            ensure_topics(self.cluster.as_ref(), source)?;
        }
        if self.persistent {
            let value = serde_json::to_vec(&def).map_err(|e| Error::CorruptState {
                connector: def.name.clone(),
                reason: format!("cannot encode the definition: {e}"),
            })?;
            let end = self.cluster.append(
                CONNECTORS_TOPIC,
                0,
                vec![NewRecord::new(Some(def.name.clone()), Some(value))],
            )?;
            self.cluster.sync(CONNECTORS_TOPIC, 0, end)?;
        }
        self.start(def)
    }

    fn start(&self, def: ConnectorDefinition) -> Result<()> {
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(StopSignal::new());
        let thread = match def.config() {
            Ok(config) => {
                if matches!(&config, ConnectorConfig::Source(s) if s.mode == Mode::Once) {
                    self.once_sources.fetch_add(1, Ordering::AcqRel);
                    self.sources_done.store(false, Ordering::Release);
                }
                let job = Job {
                    name: def.name.clone(),
                    config,
                    cluster: self.cluster.clone(),
                    metrics: metrics.clone(),
                    stop: stop.clone(),
                    once_sources: self.once_sources.clone(),
                    sources_done: self.sources_done.clone(),
                };
                let handle = std::thread::Builder::new()
                    .name(format!("connect-{}", def.name))
                    .spawn(move || job.run())
                    .map_err(|e| Error::Io {
                        context: "starting a connector thread".into(),
                        path: Default::default(),
                        source: e,
                    })?;
                Some(handle)
            }
            Err(e) => {
                // A stored definition that no longer validates stays visible as failed.
                metrics.set_state(ConnectorState::Failed(e.to_string()));
                None
            }
        };
        self.connectors.lock().insert(def.name.clone(), Running { def, metrics, stop, thread });
        Ok(())
    }

    /// `DROP CONNECTOR`: stops the connector and forgets its definition and position.
    pub fn drop_connector(&self, name: &str) -> Result<()> {
        let running =
            self.connectors.lock().remove(name).ok_or_else(|| Error::UnknownConnector(name.to_string()))?;
        stop_and_join(running);
        if self.persistent {
            let end = self.cluster.append(
                CONNECTORS_TOPIC,
                0,
                vec![NewRecord::new(Some(name.to_string()), None::<Bytes>)],
            )?;
            self.cluster.sync(CONNECTORS_TOPIC, 0, end)?;
        }
        OffsetStore::delete(self.cluster.as_ref(), name)
    }

    /// `SHOW CONNECTORS`: every connector's status, by name.
    pub fn list(&self) -> Vec<ConnectorStatus> {
        self.connectors.lock().values().map(status).collect()
    }

    /// `DESCRIBE CONNECTOR`: one connector's status.
    pub fn describe(&self, name: &str) -> Result<ConnectorStatus> {
        self.connectors.lock().get(name).map(status).ok_or_else(|| Error::UnknownConnector(name.to_string()))
    }

    /// Waits until every connector has finished or stopped (for `once` runs); returns whether
    /// they all did before `timeout`.
    pub fn wait_until_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let busy =
                self.connectors.lock().values().any(|r| r.thread.as_ref().is_some_and(|t| !t.is_finished()));
            if !busy {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops every connector (each commits its position first). Idempotent.
    pub fn shutdown(&self) {
        let all: Vec<Running> = std::mem::take(&mut *self.connectors.lock()).into_values().collect();
        let mut kept = BTreeMap::new();
        for r in all {
            r.stop.stop();
            kept.insert(r.def.name.clone(), r);
        }
        for r in kept.values_mut() {
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
        *self.connectors.lock() = kept;
    }
}

impl Drop for ConnectorManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn stop_and_join(mut r: Running) {
    r.stop.stop();
    if let Some(t) = r.thread.take() {
        let _ = t.join();
    }
}

fn status(r: &Running) -> ConnectorStatus {
    ConnectorStatus::new(&r.def, r.metrics.state(), r.metrics.snapshot(), r.metrics.last_error())
}

/// One connector's thread: runs it, retrying failures with a growing pause.
struct Job {
    name: String,
    config: ConnectorConfig,
    cluster: Arc<dyn Cluster>,
    metrics: Arc<Metrics>,
    stop: Arc<StopSignal>,
    once_sources: Arc<AtomicUsize>,
    sources_done: Arc<AtomicBool>,
}

impl Job {
    fn run(self) {
        let mut pause = Duration::from_secs(1);
        loop {
            let result = match &self.config {
                ConnectorConfig::Source(c) => {
                    FileSource::new(&self.name, c.clone(), self.cluster.clone(), self.metrics.clone())
                        .run(&self.stop)
                }
                ConnectorConfig::Sink(c) => {
                    let mut sink =
                        FileSink::new(&self.name, c.clone(), self.cluster.clone(), self.metrics.clone());
                    sink.wait_for_upstream(self.sources_done.clone());
                    sink.run(&self.stop)
                }
            };
            match result {
                Ok(end) => {
                    let state = if end == RunEnd::Finished {
                        ConnectorState::Finished
                    } else {
                        ConnectorState::Stopped
                    };
                    self.metrics.set_state(state);
                    break;
                }
                Err(e) => {
                    tracing::error!(connector = %self.name, error = %e, "connector failed; retrying in {pause:?}");
                    self.metrics.set_error(e.to_string());
                    self.metrics.set_state(ConnectorState::Failed(e.to_string()));
                    if self.stop.sleep(pause) {
                        self.metrics.set_state(ConnectorState::Stopped);
                        break;
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
        if matches!(&self.config, ConnectorConfig::Source(s) if s.mode == Mode::Once)
            && self.once_sources.fetch_sub(1, Ordering::AcqRel) == 1
        {
            self.sources_done.store(true, Ordering::Release);
        }
    }
}

/// The definitions stored in `_brook_connectors`.
pub fn stored_definitions(cluster: &dyn Cluster) -> Result<BTreeMap<String, ConnectorDefinition>> {
    let mut latest: BTreeMap<String, Option<Bytes>> = BTreeMap::new();
    if cluster.partitions(CONNECTORS_TOPIC)?.is_none() {
        return Ok(BTreeMap::new());
    }
    cluster.scan(CONNECTORS_TOPIC, 0, 0, &mut |r| {
        if let Some(k) = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) {
            latest.insert(k.to_string(), r.value.clone());
        }
    })?;
    let mut defs = BTreeMap::new();
    for (name, value) in latest {
        let Some(v) = value else { continue };
        let def: ConnectorDefinition = serde_json::from_slice(&v).map_err(|e| Error::CorruptState {
            connector: name.clone(),
            reason: format!("definition: {e}"),
        })?;
        defs.insert(name, def);
    }
    Ok(defs)
}

/// A connector as stored in the cluster, seen from another process.
#[derive(Debug, Clone)]
pub struct StoredConnector {
    /// Name.
    pub name: String,
    /// Its definition (server mode only; standalone definitions live in their TOML file).
    pub definition: Option<ConnectorDefinition>,
    /// Its last checkpoint: positions and counters as of the last commit.
    pub checkpoint: Option<Checkpoint>,
}

/// What another process can see of connectors without running them: stored definitions
/// (server mode) and committed checkpoints (counters as of the last commit).
pub fn stored_status(cluster: &dyn Cluster) -> Result<Vec<StoredConnector>> {
    let defs = stored_definitions(cluster)?;
    let checkpoints = OffsetStore::load_all(cluster)?;
    let mut names: Vec<String> = defs.keys().chain(checkpoints.keys()).cloned().collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| StoredConnector {
            definition: defs.get(&name).cloned(),
            checkpoint: checkpoints.get(&name).cloned(),
            name,
        })
        .collect())
}
