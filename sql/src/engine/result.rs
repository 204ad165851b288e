//! What statements return: typed results the shell prints and the HTTP API serializes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};

use crate::types::SqlType;

/// A column of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: SqlType,
}

/// Rows with their schema (pull queries, PRINT in the deterministic engine).
#[derive(Debug, Clone, PartialEq)]
pub struct RowSet {
    /// Columns.
    pub columns: Vec<ColumnInfo>,
    /// Rows, each a JSON array of column values.
    pub rows: Vec<serde_json::Value>,
}

/// A stream or table in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    /// Name.
    pub name: String,
    /// Topic.
    pub topic: String,
    /// Key format.
    pub key_format: String,
    /// Value format.
    pub value_format: String,
    /// Windowed keys.
    pub windowed: bool,
}

/// A topic in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSummary {
    /// Name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Records currently stored (sum of partition sizes), for `EXTENDED`.
    pub records: i64,
}

/// A persistent query in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySummary {
    /// Id.
    pub id: String,
    /// Statement.
    pub sql: String,
    /// Sink name.
    pub sink: String,
    /// Sink topic.
    pub sink_topic: String,
    /// `RUNNING`, `PAUSED` or `ERROR`.
    pub state: String,
    /// Why a query in state `ERROR` stopped.
    pub error: Option<String>,
}

/// `DESCRIBE` of a stream or table.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDescription {
    /// Name.
    pub name: String,
    /// `STREAM` or `TABLE`.
    pub kind: String,
    /// Columns (name, type, role text such as `KEY`).
    pub columns: Vec<(String, SqlType, String)>,
    /// Topic.
    pub topic: String,
    /// Key format.
    pub key_format: String,
    /// Value format.
    pub value_format: String,
    /// Timestamp column.
    pub timestamp: Option<String>,
    /// Window type of windowed keys.
    pub window: Option<String>,
    /// Statement that created it.
    pub statement: String,
    /// Queries reading it (EXTENDED).
    pub read_queries: Vec<String>,
    /// Queries writing it (EXTENDED).
    pub write_queries: Vec<String>,
    /// Partitions of the topic (EXTENDED).
    pub partitions: i32,
    /// Records in the topic (EXTENDED).
    pub records: i64,
    /// Counters of the queries writing it, summed (EXTENDED): records processed and written,
    /// records skipped by processing errors, records dropped because their window had closed.
    pub runtime: Option<brook_streams::task::TaskMetrics>,
    /// Whether EXTENDED was asked.
    pub extended: bool,
}

/// A function in `SHOW FUNCTIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSummary {
    /// Name.
    pub name: String,
    /// `SCALAR` or `AGGREGATE`.
    pub kind: String,
}

/// One event of a push query.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// A row: a JSON array of column values.
    Row(serde_json::Value),
    /// The query ended (LIMIT reached, cancelled, or failed with the message).
    End(Option<String>),
}

/// Stops a running push query.
pub(crate) type Canceller = Box<dyn FnOnce() + Send>;

/// How often a producer of push-query rows looks again at a full buffer.
const FULL_BUFFER_RETRY: std::time::Duration = std::time::Duration::from_millis(2);

/// Hands `event` to a push query's reader from a producing thread (a stream thread's callback
/// sink, PRINT's reader): waits while the buffer is full — the back-pressure that keeps the
/// producer from running ahead of the reader — and gives up once `stop` is set or the reader
/// is gone. Returns whether the event was delivered.
pub(crate) fn offer(tx: &Sender<PushEvent>, mut event: PushEvent, stop: &AtomicBool) -> bool {
    loop {
        match tx.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if stop.load(Ordering::Acquire) {
                    return false;
                }
                event = back;
                std::thread::sleep(FULL_BUFFER_RETRY);
            }
        }
    }
}

/// A running push query: its schema and a stream of rows. Dropping it cancels the query.
///
/// `rows` holds at most [`super::EngineConfig::push_query_buffer_rows`] rows: while the
/// reader (an HTTP client that reads slowly, a shell paused on its output) lets it fill up,
/// the query's stream thread waits and reads no further input, so memory stays
/// bounded by the buffer, not by how far the input runs ahead.
pub struct PushQuery {
    /// Query id (for `/close-query`).
    pub id: String,
    /// Result columns.
    pub columns: Vec<ColumnInfo>,
    /// Rows as they come (a bounded buffer).
    pub rows: Receiver<PushEvent>,
    /// Rows put into `rows` so far.
    pub(crate) offered: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) cancel: Arc<Mutex<Option<Canceller>>>,
    pub(crate) cancelled: Arc<AtomicBool>,
}

impl std::fmt::Debug for PushQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushQuery").field("id", &self.id).field("columns", &self.columns).finish()
    }
}

impl PushQuery {
    /// A handle that can cancel the query from elsewhere (Ctrl-C, `/close-query`).
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { cancel: self.cancel.clone(), cancelled: self.cancelled.clone() }
    }

    /// How many rows the query has put into [`PushQuery::rows`] so far (read or not).
    pub fn rows_offered(&self) -> u64 {
        self.offered.load(Ordering::Acquire)
    }

    /// Stops the query; no more rows arrive after the ones already queued.
    pub fn cancel(&self) {
        self.cancel_handle().cancel();
    }
}

impl Drop for PushQuery {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Cancels a push query from another thread.
#[derive(Clone)]
pub struct CancelHandle {
    cancel: Arc<Mutex<Option<Canceller>>>,
    cancelled: Arc<AtomicBool>,
}

impl CancelHandle {
    /// Stops the query (idempotent).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Some(f) = self.cancel.lock().take() {
            f();
        }
    }

    /// Whether the query was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// The result of one statement.
#[derive(Debug)]
pub enum StatementResult {
    /// A command that changed something, with its message (`Stream created`, `Created query
    /// with ID …`).
    Message {
        /// What happened.
        message: String,
        /// The persistent query started, if any.
        query_id: Option<String>,
    },
    /// `SHOW STREAMS`.
    Streams(Vec<SourceSummary>),
    /// `SHOW TABLES`.
    Tables(Vec<SourceSummary>),
    /// `SHOW TOPICS`.
    Topics(Vec<TopicSummary>),
    /// `SHOW QUERIES`.
    Queries(Vec<QuerySummary>),
    /// `SHOW PROPERTIES` (name, value).
    Properties(Vec<(String, String)>),
    /// `SHOW VARIABLES` (name, value).
    Variables(Vec<(String, String)>),
    /// `SHOW TYPES` (name, type).
    Types(Vec<(String, String)>),
    /// `SHOW FUNCTIONS`.
    Functions(Vec<FunctionSummary>),
    /// `DESCRIBE`.
    Description(Box<SourceDescription>),
    /// `DESCRIBE STREAMS|TABLES`.
    Descriptions(Vec<SourceDescription>),
    /// `EXPLAIN`: the plan and topology as text lines.
    Explain {
        /// Query id (EXPLAIN of a running query), if any.
        query_id: Option<String>,
        /// The statement.
        sql: String,
        /// Plan lines.
        plan: Vec<String>,
        /// Topology description.
        topology: String,
    },
    /// Rows (pull queries; PRINT in the deterministic engine).
    Rows(RowSet),
    /// A running push query (or a PRINT that follows a topic).
    Push(PushQuery),
    /// `SHOW CONNECTORS`.
    Connectors(Vec<crate::connector::ConnectorInfo>),
    /// `DESCRIBE CONNECTOR`.
    ConnectorDescription {
        /// The connector.
        info: Box<crate::connector::ConnectorInfo>,
        /// Streams and tables over the connector's topic.
        sources: Vec<String>,
    },
}
