//! Connector statements and the [`ConnectorHost`] that runs them.
//!
//! `CREATE SOURCE|SINK CONNECTOR`, `DROP CONNECTOR`, `SHOW [SOURCE|SINK] CONNECTORS` and
//! `DESCRIBE CONNECTOR` are parsed here, but connectors are not part of the SQL layer: the
//! engine hands each statement to a host installed with
//! [`Engine::set_connector_host`](crate::Engine::set_connector_host). `brook server` and the
//! embedded `brook sql` shell install one backed by `brook_connect::ConnectorManager`, which
//! runs the connectors on the server's broker and keeps their definitions across restarts.
//! The dependency points from the binary to both crates, never from `brook-sql` to
//! `brook-connect`:
//!
//! ```text
//!   CREATE SOURCE CONNECTOR c WITH ('connector'='file', …)
//!        │ parser ─► Statement::CreateConnector
//!        ▼
//!   Engine ──► dyn ConnectorHost ──(implemented in brook-cli)──► ConnectorManager
//! ```
//!
//! Without a host (an engine embedded in a test or a benchmark), connector statements fail
//! with a message saying where connectors are available.

use std::collections::BTreeMap;

/// Whether a connector reads into a topic or writes one out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// Reads files (or another system) into a topic.
    Source,
    /// Writes a topic out.
    Sink,
}

impl ConnectorKind {
    /// `SOURCE` or `SINK`, as ksqlDB shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Source => "SOURCE",
            ConnectorKind::Sink => "SINK",
        }
    }
}

impl std::fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector to create: the name and `WITH (…)` of `CREATE SOURCE|SINK CONNECTOR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSpec {
    /// Name, as written (case preserved).
    pub name: String,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// Properties with lower-case names and their values as text.
    pub properties: BTreeMap<String, String>,
}

/// Counters of a connector, for `DESCRIBE CONNECTOR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectorCounters {
    /// Input units consumed (lines, CSV records; records read by sinks).
    pub records_in: u64,
    /// Records written (to the topic by sources, to files by sinks).
    pub records_out: u64,
    /// Malformed input sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Input that produced nothing (blank lines, tombstones after deletes, replays, headers).
    pub skipped: u64,
    /// Replayed change events (part of `skipped`).
    pub duplicates: u64,
    /// Bytes of input consumed.
    pub bytes_in: u64,
    /// Files seen (sources).
    pub files_seen: u64,
    /// Files read to their end (sources) or completed (sinks).
    pub files_done: u64,
}

/// What `SHOW CONNECTORS` and `DESCRIBE CONNECTOR` show about one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInfo {
    /// Name.
    pub name: String,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// The connector type (the `connector` property: `file`, `parquet`).
    pub class: String,
    /// The topic written (sources) or read (sinks).
    pub topic: String,
    /// The file or directory read or written.
    pub path: String,
    /// The input format of a source.
    pub format: Option<String>,
    /// The dead-letter topic of a source.
    pub dlq_topic: Option<String>,
    /// State: `RUNNING`, `FINISHED`, `STOPPED`, `FAILED (reason)`, …
    pub state: String,
    /// Counters.
    pub counters: ConnectorCounters,
    /// The most recent error, if any.
    pub last_error: Option<String>,
    /// Every property as given.
    pub properties: BTreeMap<String, String>,
}

/// Why a host refused a connector statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// No connector has this name.
    #[error("connector {0} does not exist; SHOW CONNECTORS lists the connectors")]
    Unknown(String),
    /// A connector with this name exists.
    #[error(
        "connector {0} already exists; DROP CONNECTOR {0} first, or use CREATE … CONNECTOR IF NOT EXISTS"
    )]
    Exists(String),
    /// The definition is not valid (a missing or unknown property, a bad value).
    #[error("{0}")]
    Invalid(String),
    /// The host failed (the broker refused to store the definition, a thread did not start).
    #[error("{0}")]
    Failed(String),
}

/// Runs connectors on behalf of the SQL engine.
///
/// Contract: every method may be called from any thread, concurrently with the others.
/// [`ConnectorHost::create`] validates the definition, makes it durable if the host keeps
/// connectors across restarts, and starts the connector before returning; a connector that
/// later fails stays listed with a `FAILED (…)` state. [`ConnectorHost::drop_connector`]
/// returns once the connector has stopped. Names are compared exactly (case-sensitive).
pub trait ConnectorHost: Send + Sync {
    /// `CREATE SOURCE|SINK CONNECTOR`.
    fn create(&self, spec: ConnectorSpec) -> Result<(), ConnectorError>;
    /// `DROP CONNECTOR`: stops the connector and forgets it.
    fn drop_connector(&self, name: &str) -> Result<(), ConnectorError>;
    /// `SHOW CONNECTORS`: every connector, by name.
    fn list(&self) -> Vec<ConnectorInfo>;
    /// `DESCRIBE CONNECTOR`.
    fn describe(&self, name: &str) -> Result<ConnectorInfo, ConnectorError>;
}
