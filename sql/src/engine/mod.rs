//! The engine: executes statements against a cluster (the embedded broker or any Kafka
//! cluster, through [`brook_client::Cluster`]) and the streams runtime.
//!
//! ```text
//!  execute(text) ─► split ─► ${var} substitution ─► parse ─► one handler per statement family
//!     DDL (CREATE/DROP/ALTER/TYPE/DEFINE) ─► catalog, logged to the command topic
//!     CSAS / CTAS / INSERT … SELECT ─► plan ─► compile ─► executor.start (persistent query)
//!     SELECT … EMIT CHANGES ─► plan ─► compile (callback sink) ─► executor.push ─► PushQuery
//!     SELECT (pull) ─► materialized view of the table's topic ─► filter / project
//!     INSERT … VALUES, PRINT, SHOW, DESCRIBE, EXPLAIN ─► broker / catalog
//!     CREATE/DROP/SHOW/DESCRIBE CONNECTOR ─► the installed ConnectorHost (not logged)
//! ```
//!
//! Durability: every catalog change is appended to the command topic before it takes effect.
//! [`Engine::open`] replays the topic, so streams, tables, types, variables and persistent
//! queries come back after a restart; each query's consumer group (its application id is
//! derived from the query id) resumes from its committed offsets with its RocksDB state.
//!
//! Pull queries read a materialized view the engine keeps of each table's topic, caught up
//! to the topic's end on every pull query. Tasks own their RocksDB stores on their own
//! threads, so reading the changelog the query already writes (the sink topic) is the one
//! view that is both consistent with what the query emitted and available from any thread.

mod connectors;
mod data;
mod ddl;
pub mod executor;
mod queries;
pub mod result;
pub mod service;
mod show;
mod simulated;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use brook_client::Cluster;
use brook_streams::OffsetReset;
use parking_lot::Mutex;

use crate::catalog::command_log::{Command, CommandLog};
use crate::catalog::{Catalog, QueryState};
use crate::compile::processing_log_source;
use crate::error::{Error, Result};
use crate::parser::{self, Parsed, Statement};
use crate::planner::expr::ExprPlanner;

pub use executor::RuntimeSettings;
pub use result::{
    CancelHandle, ColumnInfo, FunctionSummary, PushEvent, PushQuery, QuerySummary, RowSet, SourceDescription,
    SourceSummary, StatementResult, TopicSummary,
};

use executor::{Executor, QueryOptions};
use service::ServiceNames;

/// How queries run.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Streams applications on threads (servers, the shell).
    Runtime(RuntimeSettings),
    /// Deterministic, synchronous execution (tests).
    Deterministic,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How queries run.
    pub mode: Mode,
    /// `auto.offset.reset` when a session does not set it (ksqlDB's default: latest).
    pub default_offset_reset: OffsetReset,
    /// ksqlDB's `ksql.service.id`: engines with the same id on one cluster share their catalog
    /// and queries (see [`service`]); `None` is Brook's default service.
    pub service_id: Option<String>,
    /// `processing.guarantee` of queries whose session does not set it (server-wide
    /// `ksql.streams.processing.guarantee`; default at_least_once).
    pub processing_guarantee: brook_streams::ProcessingGuarantee,
    /// ksqlDB's `ksql.fail.on.production.error` when a session does not set it: whether a
    /// persistent query fails (`true`, ksqlDB's default) or skips an output record the cluster
    /// refuses and logs it to the processing log (`false`).
    pub fail_on_production_error: bool,
    /// Rows a push query (or PRINT) buffers for a reader that is slower than the query: when
    /// the buffer is full, the query waits (back-pressure) instead of buffering more.
    pub push_query_buffer_rows: usize,
    /// ksqlDB's `ksql.logging.processing.topic.name`: the processing log's topic (`None`: the
    /// service's, see [`service::ServiceNames::processing_log_topic`]).
    pub processing_log_topic: Option<String>,
}

/// The default of [`EngineConfig::push_query_buffer_rows`] (as ksqlDB's transient query queue).
pub const DEFAULT_PUSH_QUERY_BUFFER_ROWS: usize = 500;

impl EngineConfig {
    /// Runtime execution with state under `data_dir/streams`.
    pub fn runtime(data_dir: impl AsRef<Path>) -> Self {
        EngineConfig {
            mode: Mode::Runtime(RuntimeSettings {
                state_dir: data_dir.as_ref().join("streams"),
                threads_per_query: 1,
                commit_interval: Duration::from_millis(200),
            }),
            default_offset_reset: OffsetReset::Latest,
            service_id: None,
            processing_guarantee: brook_streams::ProcessingGuarantee::AtLeastOnce,
            fail_on_production_error: true,
            push_query_buffer_rows: DEFAULT_PUSH_QUERY_BUFFER_ROWS,
            processing_log_topic: None,
        }
    }

    /// Deterministic execution.
    pub fn deterministic() -> Self {
        EngineConfig {
            mode: Mode::Deterministic,
            default_offset_reset: OffsetReset::Latest,
            service_id: None,
            processing_guarantee: brook_streams::ProcessingGuarantee::AtLeastOnce,
            fail_on_production_error: true,
            push_query_buffer_rows: DEFAULT_PUSH_QUERY_BUFFER_ROWS,
            processing_log_topic: None,
        }
    }
}

/// Per-client settings (`SET`/`UNSET`, or `streamsProperties` of an HTTP request).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Property overrides, e.g. `auto.offset.reset`.
    pub properties: BTreeMap<String, String>,
}

/// One executed statement.
#[derive(Debug)]
pub struct Executed {
    /// The statement text.
    pub statement: String,
    /// Its result.
    pub result: Result<StatementResult>,
}

pub(crate) struct State {
    pub catalog: Catalog,
    pub executor: Box<dyn Executor>,
    pub materialized: HashMap<String, data::Materialized>,
    /// Replaying the command topic: no side effects on topics, no logging.
    pub replaying: bool,
    /// Queries replayed but not started yet (started when replay ends).
    pub pending: Vec<String>,
}

/// Executes Brook SQL.
pub struct Engine {
    pub(crate) cluster: Arc<dyn Cluster>,
    /// The service's topic and application names.
    pub(crate) names: ServiceNames,
    pub(crate) exprs: ExprPlanner,
    pub(crate) state: Mutex<State>,
    pub(crate) log: CommandLog,
    pub(crate) config: EngineConfig,
    /// The processing log's topic.
    pub(crate) processing_log: String,
    pub(crate) deterministic: bool,
    transient: AtomicU64,
    /// Runs connector statements ([`Engine::set_connector_host`]).
    connector_host: parking_lot::RwLock<Option<Arc<dyn crate::connector::ConnectorHost>>>,
    /// Set by [`Engine::shutdown`]: no more commands are applied.
    stopped: std::sync::atomic::AtomicBool,
}

/// How often a server's engine looks for commands other engines appended.
const COMMAND_POLL_INTERVAL: Duration = Duration::from_millis(300);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("cluster", &self.cluster.describe()).finish()
    }
}

impl Engine {
    /// Opens an engine over `cluster` (the embedded broker, or a Kafka cluster): replays the
    /// command topic and restarts persistent queries.
    pub fn open(cluster: Arc<dyn Cluster>, config: EngineConfig) -> Result<Arc<Engine>> {
        let names = ServiceNames::new(config.service_id.as_deref())?;
        let processing_log =
            config.processing_log_topic.clone().unwrap_or_else(|| names.processing_log_topic());
        let (executor, deterministic): (Box<dyn Executor>, bool) = match &config.mode {
            Mode::Runtime(s) => {
                let executor = executor::RuntimeExecutor::new(
                    cluster.clone(),
                    s.clone(),
                    names.clone(),
                    &processing_log,
                );
                (Box::new(executor), false)
            }
            Mode::Deterministic => {
                (Box::new(simulated::SimulatedExecutor::new(cluster.clone(), names.clone())?), true)
            }
        };
        let mut catalog = Catalog::new();
        catalog.add_source(processing_log_source(&processing_log), true)?;
        let log = CommandLog::open(cluster.clone(), names.command_topic());
        let engine = Arc::new(Engine {
            cluster,
            names,
            exprs: ExprPlanner::new()?,
            state: Mutex::new(State {
                catalog,
                executor,
                materialized: HashMap::new(),
                replaying: false,
                pending: Vec::new(),
            }),
            log,
            config,
            processing_log,
            deterministic,
            transient: AtomicU64::new(0),
            connector_host: parking_lot::RwLock::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        });
        engine.apply_new_commands(&mut engine.state.lock())?;
        if !engine.deterministic {
            engine.follow_commands(COMMAND_POLL_INTERVAL)?;
        }
        Ok(engine)
    }

    /// Creates the processing-log topic when the first query needs it (a broker that never
    /// runs SQL does not get one).
    pub(crate) fn ensure_processing_log(&self) -> Result<()> {
        self.cluster.ensure_topic(&self.processing_log, 1, &[])?;
        Ok(())
    }

    /// The cluster the engine runs on.
    pub fn cluster(&self) -> &Arc<dyn Cluster> {
        &self.cluster
    }

    /// The service id as ksqlDB's `/info` reports it.
    pub fn service_id(&self) -> &str {
        self.names.service_id()
    }

    /// The number of partitions of `topic`, or `None` if it does not exist (or the cluster
    /// cannot say).
    pub(crate) fn partitions(&self, topic: &str) -> Option<i32> {
        self.cluster.partitions(topic).ok().flatten()
    }

    /// Applies the commands that other engines on the cluster appended to the command topic
    /// since the last call — on the first call, the whole topic (a restart) — without side
    /// effects on topics, then starts the persistent queries they left running.
    pub(crate) fn apply_new_commands(&self, st: &mut State) -> Result<()> {
        let commands = self.log.read_new()?;
        if commands.is_empty() {
            return Ok(());
        }
        st.replaying = true;
        for cmd in &commands {
            let mut session = Session { properties: cmd.properties.clone() };
            let parsed = match parser::parse_statement(&cmd.statement) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(statement = %cmd.statement, error = %e, "skipping a command that no longer parses");
                    continue;
                }
            };
            if let Err(e) = self.run(st, &parsed, &mut session, cmd.query_id.as_deref()) {
                tracing::warn!(statement = %cmd.statement, error = %e, "replaying a command failed");
            }
        }
        st.replaying = false;
        let pending = std::mem::take(&mut st.pending);
        for id in pending {
            let Ok(info) = st.catalog.query(&id).cloned() else { continue };
            if info.state != QueryState::Running {
                continue;
            }
            if let Err(e) = self.start_query(st, &info.id, &info.sql, QueryOptions::restart(&info)) {
                tracing::error!(query = %id, error = %e, "cannot restart query");
                let _ = st.catalog.set_query_state(&id, QueryState::Error(e.to_string()));
            }
        }
        tracing::debug!(commands = commands.len(), "catalog caught up with the command topic");
        Ok(())
    }

    /// Applies new commands from the command topic every `interval` on a thread of its own,
    /// so that streams, tables and queries created through another engine on the same
    /// cluster appear (and run) here too. Stops at [`Engine::shutdown`].
    fn follow_commands(self: &Arc<Self>, interval: Duration) -> Result<()> {
        let engine = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("brook-sql-commands".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    let Some(engine) = engine.upgrade() else { return };
                    if engine.stopped.load(Ordering::Acquire) {
                        return;
                    }
                    let mut st = engine.state.lock();
                    if let Err(e) = engine.apply_new_commands(&mut st) {
                        tracing::warn!(error = %e, "cannot read the command topic; retrying");
                    }
                }
            })
            .map_err(|source| Error::Io { context: "starting the command-topic follower".into(), source })?;
        Ok(())
    }

    /// Executes a script; stops at the first failing statement.
    pub fn execute(&self, sql: &str, session: &mut Session) -> Vec<Executed> {
        self.execute_with(sql, session, &mut |_| {})
    }

    /// Like [`Engine::execute`], calling `before` with each statement (parsed, variables
    /// substituted) just before it runs — e.g. for a shell running a script to let data
    /// arriving from connectors settle before a pull query reads it.
    pub fn execute_with(
        &self,
        sql: &str,
        session: &mut Session,
        before: &mut dyn FnMut(&Statement),
    ) -> Vec<Executed> {
        let mut out = Vec::new();
        self.execute_into(sql, session, &mut out, 0, before);
        out
    }

    fn execute_into(
        &self,
        sql: &str,
        session: &mut Session,
        out: &mut Vec<Executed>,
        depth: usize,
        before: &mut dyn FnMut(&Statement),
    ) {
        for st in parser::split_statements(sql) {
            let vars = self.state.lock().catalog.variables().clone();
            let text = match parser::substitute_variables(&st.text, &vars) {
                Ok(t) => t,
                Err(e) => {
                    out.push(Executed { statement: st.text.clone(), result: Err(e) });
                    return;
                }
            };
            let parsed = match parser::parse_statement_at(&text, st.line, st.column) {
                Ok(p) => p,
                Err(e) => {
                    out.push(Executed { statement: text, result: Err(e) });
                    return;
                }
            };
            if let Statement::RunScript(path) = &parsed.statement {
                if depth > 8 {
                    out.push(Executed {
                        statement: text,
                        result: Err(Error::plan("RUN SCRIPT is nested too deeply (a script runs itself?)")),
                    });
                    return;
                }
                match std::fs::read_to_string(path) {
                    Ok(script) => {
                        let first = out.len();
                        self.execute_into(&script, session, out, depth + 1, before);
                        if out[first..].iter().any(|e| e.result.is_err()) {
                            return;
                        }
                        continue;
                    }
                    Err(source) => {
                        out.push(Executed {
                            statement: text,
                            result: Err(Error::Io { context: format!("reading script {path}"), source }),
                        });
                        return;
                    }
                }
            }
            before(&parsed.statement);
            let result = self.execute_parsed(&parsed, session);
            let failed = result.is_err();
            out.push(Executed { statement: parsed.text, result });
            if failed {
                return;
            }
        }
    }

    /// Executes one parsed statement.
    pub fn execute_parsed(&self, parsed: &Parsed, session: &mut Session) -> Result<StatementResult> {
        let mut st = self.state.lock();
        // What other engines on the cluster did first: their streams exist for this statement.
        self.apply_new_commands(&mut st)?;
        if let Statement::Select(q) = &parsed.statement
            && q.emit.is_some()
        {
            drop(st);
            return self.push_query(q, &parsed.text, session);
        }
        self.run(&mut st, parsed, session, None)
    }

    /// Dispatches a statement with the state locked. `query_id` is the id to reuse (replay).
    pub(crate) fn run(
        &self,
        st: &mut State,
        parsed: &Parsed,
        session: &mut Session,
        query_id: Option<&str>,
    ) -> Result<StatementResult> {
        let text = &parsed.text;
        match &parsed.statement {
            Statement::CreateSource(c) => self.create_source(st, c, text, session),
            Statement::CreateAsSelect(c) => self.create_as_select(st, c, text, session, query_id),
            Statement::InsertSelect { target, query } => {
                self.insert_select(st, target, query, text, session, query_id)
            }
            Statement::InsertValues { target, columns, values } => {
                self.insert_values(st, target, columns.as_deref(), values)
            }
            Statement::Select(q) => self.pull_query(st, q),
            Statement::Drop { kind, name, if_exists, delete_topic } => {
                self.drop_source(st, *kind, name, *if_exists, *delete_topic, text)
            }
            Statement::Show { target: crate::parser::ShowTarget::Connectors { kind }, .. } => {
                self.show_connectors(*kind)
            }
            Statement::Show { target, extended } => self.show(st, *target, *extended, session),
            Statement::CreateConnector(c) => self.create_connector(st, c),
            Statement::DropConnector { name, if_exists } => self.drop_connector(name, *if_exists),
            Statement::DescribeConnector(name) => self.describe_connector(st, name),
            Statement::Describe { name, extended } => self.describe(st, name, *extended),
            Statement::DescribeAll { kind, extended } => self.describe_all(st, *kind, *extended),
            Statement::DescribeFunction(name) => self.describe_function(name),
            Statement::Print(p) => self.print(p),
            Statement::Explain(inner) => self.explain(st, inner, session),
            Statement::ExplainQuery(id) => self.explain_query(st, id),
            Statement::Terminate(id) => self.terminate(st, id.as_deref(), text),
            Statement::Pause(id) => self.pause(st, id.as_deref(), text, true),
            Statement::Resume(id) => self.pause(st, id.as_deref(), text, false),
            Statement::Set { name, value } => {
                check_property(name, value)?;
                session.properties.insert(name.clone(), value.clone());
                Ok(message(format!("Successfully changed local property '{name}' to '{value}'.")))
            }
            Statement::Unset(name) => {
                if session.properties.remove(name).is_none() {
                    return Err(Error::plan(format!("property '{name}' is not set")));
                }
                Ok(message(format!("Successfully unset local property '{name}'.")))
            }
            Statement::Define { name, value } => {
                self.log_command(st, text, None, session)?;
                st.catalog.define(name, value);
                Ok(message(format!("Variable {name} defined")))
            }
            Statement::Undefine(name) => {
                if !st.catalog.variables().contains_key(&name.to_uppercase()) {
                    return Err(Error::Catalog(format!("variable {name} is not defined")));
                }
                self.log_command(st, text, None, session)?;
                st.catalog.undefine(name);
                Ok(message(format!("Variable {name} undefined")))
            }
            Statement::RunScript(_) => {
                Err(Error::plan("RUN SCRIPT is only allowed at the top level of a request"))
            }
            Statement::CreateType { name, ty, if_not_exists } => {
                let resolved = st.catalog.resolve_type(ty)?;
                if st.catalog.types().contains_key(name) && *if_not_exists {
                    return Ok(message(format!("Type {name} already exists")));
                }
                if st.catalog.types().contains_key(name) {
                    return Err(Error::Catalog(format!("type {name} already exists")));
                }
                self.log_command(st, text, None, session)?;
                st.catalog.add_type(name, resolved.clone(), *if_not_exists)?;
                Ok(message(format!("Registered custom type with name '{name}' and SQL type {resolved}")))
            }
            Statement::DropType { name, if_exists } => {
                if !st.catalog.types().contains_key(name) {
                    if *if_exists {
                        return Ok(message(format!("Type {name} does not exist")));
                    }
                    return Err(Error::Catalog(format!("type {name} does not exist")));
                }
                self.log_command(st, text, None, session)?;
                st.catalog.drop_type(name, *if_exists)?;
                Ok(message(format!("Dropped type '{name}'")))
            }
            Statement::Alter { kind, name, columns } => self.alter(st, *kind, name, columns, text, session),
        }
    }

    /// Appends a catalog change to the command topic (not while replaying).
    pub(crate) fn log_command(
        &self,
        st: &State,
        text: &str,
        query_id: Option<&str>,
        session: &Session,
    ) -> Result<()> {
        if st.replaying {
            return Ok(());
        }
        self.log.append(&Command {
            statement: text.to_string(),
            query_id: query_id.map(str::to_string),
            properties: session.properties.clone(),
        })
    }

    /// `auto.offset.reset` of a session.
    pub(crate) fn offset_reset(&self, session: &Session) -> OffsetReset {
        let value = session
            .properties
            .get("auto.offset.reset")
            .or_else(|| session.properties.get("ksql.streams.auto.offset.reset"));
        match value.map(|s| s.to_lowercase()) {
            Some(v) if v == "earliest" => OffsetReset::Earliest,
            Some(v) if v == "latest" => OffsetReset::Latest,
            _ => self.config.default_offset_reset,
        }
    }

    /// How a query started in `session` runs: `auto.offset.reset`, `max.task.idle.ms`,
    /// `num.stream.threads`, `processing.guarantee`, the consumer's `session.timeout.ms` (each
    /// also with ksqlDB's `ksql.streams.` prefix) and `ksql.fail.on.production.error`.
    pub(crate) fn query_options(&self, session: &Session) -> Result<QueryOptions> {
        let idle = session
            .properties
            .get("max.task.idle.ms")
            .or_else(|| session.properties.get("ksql.streams.max.task.idle.ms"));
        let max_task_idle = match idle {
            None => Duration::from_millis(brook_streams::runtime::DEFAULT_MAX_TASK_IDLE_MS as u64),
            Some(v) => Duration::from_millis(parse_millis("max.task.idle.ms", v)?),
        };
        let threads = session
            .properties
            .get("num.stream.threads")
            .or_else(|| session.properties.get("ksql.streams.num.stream.threads"));
        let num_threads = threads.map(|v| parse_threads("num.stream.threads", v)).transpose()?;
        let guarantee = session
            .properties
            .get("processing.guarantee")
            .or_else(|| session.properties.get("ksql.streams.processing.guarantee"));
        let processing_guarantee = match guarantee {
            None => self.config.processing_guarantee,
            Some(v) => v.parse().map_err(|e: brook_streams::Error| Error::plan(e.to_string()))?,
        };
        let session_timeout = [
            "session.timeout.ms",
            "ksql.streams.session.timeout.ms",
            "ksql.streams.consumer.session.timeout.ms",
        ]
        .iter()
        .find_map(|k| session.properties.get(*k))
        .map(|v| parse_millis("session.timeout.ms", v).map(Duration::from_millis))
        .transpose()?;
        let fail_on_production_error = match session.properties.get(FAIL_ON_PRODUCTION_ERROR) {
            Some(v) => v.trim().eq_ignore_ascii_case("true"),
            None => self.config.fail_on_production_error,
        };
        Ok(QueryOptions {
            reset: self.offset_reset(session),
            max_task_idle,
            num_threads,
            processing_guarantee,
            session_timeout,
            fail_on_production_error,
        })
    }

    /// Waits until persistent queries have processed all available input (runtime mode).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.state.lock().executor.wait_idle(timeout)
    }

    /// Processing errors (query id, reason) recorded since the last call.
    pub fn take_errors(&self) -> Vec<(String, String)> {
        self.state.lock().executor.take_errors()
    }

    /// Stops every query (their progress is committed) — call before closing the broker.
    pub fn shutdown(&self) {
        let mut st = self.state.lock();
        self.stopped.store(true, Ordering::Release);
        let ids: Vec<String> = st.catalog.queries().map(|q| q.id.clone()).collect();
        for id in ids {
            if let Err(e) = st.executor.stop(&id, false) {
                tracing::warn!(query = %id, error = %e, "stopping query");
            }
        }
    }

    /// The buffer of a push query's rows. A deterministic push query writes all its rows
    /// before its reader gets the receiver, so it is not bounded by the setting (its rows are
    /// what the test wrote).
    pub(crate) fn push_buffer_rows(&self) -> usize {
        if self.deterministic {
            tokio::sync::Semaphore::MAX_PERMITS
        } else {
            self.config.push_query_buffer_rows.max(1)
        }
    }

    pub(crate) fn next_transient_id(&self) -> u64 {
        self.transient.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Names of streams and tables (for shell completion).
    pub fn source_names(&self) -> Vec<String> {
        self.state.lock().catalog.sources().map(|s| s.name.clone()).collect()
    }
}

/// A plain message result.
pub(crate) fn message(m: impl Into<String>) -> StatementResult {
    StatementResult::Message { message: m.into(), query_id: None }
}

/// Properties `SET` accepts, with their allowed values (`None`: any).
pub const PROPERTIES: &[(&str, Option<&[&str]>)] = &[
    ("auto.offset.reset", Some(&["earliest", "latest"])),
    ("ksql.streams.auto.offset.reset", Some(&["earliest", "latest"])),
    ("commit.interval.ms", None),
    ("cache.max.bytes.buffering", None),
    ("max.task.idle.ms", None),
    ("ksql.streams.max.task.idle.ms", None),
    ("num.stream.threads", None),
    ("ksql.streams.num.stream.threads", None),
    (FAIL_ON_PRODUCTION_ERROR, Some(&["true", "false"])),
];

/// ksqlDB's property: whether a query fails on an output record the cluster refuses (`true`)
/// or skips it to the processing log (`false`).
pub const FAIL_ON_PRODUCTION_ERROR: &str = "ksql.fail.on.production.error";

/// Most stream threads one query may ask for.
const MAX_STREAM_THREADS: usize = 64;

/// A number of stream threads, 1 to [`MAX_STREAM_THREADS`].
fn parse_threads(name: &str, value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_STREAM_THREADS).contains(&n) => Ok(n),
        _ => Err(Error::plan(format!(
            "invalid value '{value}' for '{name}'; use a number of threads from 1 to {MAX_STREAM_THREADS}"
        ))),
    }
}

/// A non-negative number of milliseconds.
fn parse_millis(name: &str, value: &str) -> Result<u64> {
    value.trim().parse::<u64>().map_err(|_| {
        Error::plan(format!("invalid value '{value}' for '{name}'; use a number of milliseconds (0 or more)"))
    })
}

fn check_property(name: &str, value: &str) -> Result<()> {
    match PROPERTIES.iter().find(|(n, _)| *n == name) {
        None => Err(Error::plan(format!(
            "unknown property '{name}'; known properties: {}",
            PROPERTIES.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        ))),
        Some((_, Some(allowed))) if !allowed.contains(&value.to_lowercase().as_str()) => Err(Error::plan(
            format!("invalid value '{value}' for '{name}'; use one of {}", allowed.join(", ")),
        )),
        Some((n, None)) if n.ends_with(".ms") => parse_millis(name, value).map(|_| ()),
        Some((n, None)) if n.ends_with("num.stream.threads") => parse_threads(name, value).map(|_| ()),
        _ => Ok(()),
    }
}
