//! Persistent queries (CSAS, CTAS, INSERT INTO … SELECT), push queries, and their control
//! (TERMINATE, PAUSE, RESUME, EXPLAIN).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use brook_streams::record::OutputRecord;
use brook_streams::topology::{CallbackSink, Topology};
use parking_lot::Mutex;

use super::ddl::sink_partitions;
use super::executor::QueryOptions;
use super::result::{ColumnInfo, PushEvent, PushQuery, offer};
use super::{Engine, Session, State, StatementResult, message};
use crate::catalog::ddl::{SourceProperties, validate};
use crate::catalog::{KeyWindow, QueryInfo, QueryState, SourceDef};
use crate::compile::{CompileOptions, Sink, compile};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::parser::{self, CreateAsSelect, Parsed, Query, SourceKind, Statement};
use crate::planner::schema::FieldRole;
use crate::planner::{Planner, Purpose, QueryPlan};
use crate::types::SqlType;

impl Engine {
    fn planner<'a>(
        &'a self,
        st: &'a State,
        id: &'a str,
        partitions: &'a dyn Fn(&str) -> Option<i32>,
    ) -> Planner<'a> {
        Planner { catalog: &st.catalog, exprs: &self.exprs, partitions, id }
    }

    fn partitions_fn(&self) -> impl Fn(&str) -> Option<i32> + '_ {
        move |t: &str| self.partitions(t)
    }

    pub(crate) fn options(&self, id: &str) -> CompileOptions {
        CompileOptions { query_id: id.to_string(), processing_log_topic: self.processing_log.clone() }
    }

    /// The definition of a CSAS/CTAS sink.
    fn sink_def(
        &self,
        c: &CreateAsSelect,
        plan: &QueryPlan,
        props: &SourceProperties,
        id: &str,
        text: &str,
    ) -> Result<SourceDef> {
        let first = plan.sources.first().ok_or_else(|| Error::Internal("a query without sources".into()))?;
        let key_cols: Vec<(String, SqlType)> = plan
            .columns
            .iter()
            .filter(|c| c.role == crate::catalog::ColumnRole::Key)
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect();
        if props.value_format == Some(Format::DebeziumJson) {
            return Err(Error::plan(
                "VALUE_FORMAT='DEBEZIUM_JSON' can only be read: Brook reads change events into rows but \
                 writes query results as rows; use JSON",
            ));
        }
        let key_format = match &props.key_format {
            Some(f) => f.clone(),
            None => {
                let inherited = match &first.key_format {
                    Format::None => Format::Kafka,
                    // A query over a change table writes rows, keyed like other JSON rows.
                    Format::DebeziumJson => Format::Json,
                    f => f.clone(),
                };
                if inherited.check_columns("key", &key_cols).is_ok() { inherited } else { Format::Json }
            }
        };
        let value_format = props.value_format.clone().unwrap_or_else(|| match &first.value_format {
            Format::DebeziumJson => Format::Json,
            f => f.clone(),
        });
        let def = SourceDef {
            name: c.name.clone(),
            kind: c.kind,
            columns: plan.columns.clone(),
            topic: props.topic.clone().unwrap_or_else(|| c.name.clone()),
            key_format,
            value_format,
            wrap_single_value: props.wrap_single_value.unwrap_or(true),
            timestamp_column: props.timestamp.clone(),
            timestamp_format: props.timestamp_format.clone(),
            window: plan.window.map(|kind| KeyWindow { kind }),
            is_source: false,
            sql: text.to_string(),
            writer: Some(id.to_string()),
        };
        validate(&def)?;
        Ok(def)
    }

    pub(crate) fn create_as_select(
        &self,
        st: &mut State,
        c: &CreateAsSelect,
        text: &str,
        session: &Session,
        query_id: Option<&str>,
    ) -> Result<StatementResult> {
        if st.catalog.has_source(&c.name) {
            let existing = st.catalog.source(&c.name)?;
            if c.if_not_exists {
                return Ok(message(format!("{} already exists", c.name)));
            }
            if !c.or_replace {
                return Err(Error::Catalog(format!(
                    "cannot add {} {}: a {} with the same name already exists",
                    c.kind.to_string().to_lowercase(),
                    c.name,
                    existing.kind.to_string().to_lowercase()
                )));
            }
            if existing.kind != c.kind {
                return Err(Error::Catalog(format!(
                    "cannot replace {} {} with a {}",
                    existing.kind, c.name, c.kind
                )));
            }
        }
        let props = SourceProperties::parse(&c.properties)?;
        let prefix = if c.kind == SourceKind::Stream { "CSAS" } else { "CTAS" };
        let id = match query_id {
            Some(id) => id.to_string(),
            None => st.catalog.peek_query_id(prefix, &c.name),
        };
        let parts = self.partitions_fn();
        let plan =
            self.planner(st, &id, &parts).plan(&c.query, Purpose::Create { kind: c.kind, name: &c.name })?;
        let def = self.sink_def(c, &plan, &props, &id, text)?;
        let source_partitions = plan.sources.first().and_then(|s| self.partitions(&s.topic)).unwrap_or(1);
        if !st.replaying {
            let partitions = match self.partitions(&def.topic) {
                Some(n) if props.partitions.is_none() => n,
                _ => sink_partitions(&props, source_partitions),
            };
            self.ensure_topic(st, &def.topic, Some(partitions), props.topic_config(), "query output")?;
        }
        // Replacing: the old writer stops first.
        if c.or_replace
            && let Some(old) = st.catalog.source(&c.name).ok().and_then(|s| s.writer.clone())
            && st.catalog.query(&old).is_ok()
        {
            st.executor.stop(&old, true)?;
            st.catalog.remove_query(&old)?;
        }
        self.log_command(st, text, Some(&id), session)?;
        let sources: Vec<String> = plan.sources.iter().map(|s| s.name.clone()).collect();
        let opts = self.query_options(session)?;
        let info = QueryInfo {
            id: id.clone(),
            sql: text.to_string(),
            sink: c.name.clone(),
            sink_topic: def.topic.clone(),
            sources,
            state: QueryState::Running,
            max_task_idle: opts.max_task_idle,
            num_stream_threads: opts.num_threads,
            processing_guarantee: opts.processing_guarantee,
            session_timeout: opts.session_timeout,
            fail_on_production_error: opts.fail_on_production_error,
        };
        st.materialized.remove(&c.name);
        st.catalog.add_source(def, true)?;
        self.register_query(st, info, text, session)
    }

    pub(crate) fn insert_select(
        &self,
        st: &mut State,
        target: &str,
        query: &Query,
        text: &str,
        session: &Session,
        query_id: Option<&str>,
    ) -> Result<StatementResult> {
        let def = st.catalog.source(target)?;
        if def.is_source {
            return Err(Error::plan(format!("{target} was created with CREATE SOURCE and is read-only")));
        }
        let id = match query_id {
            Some(id) => id.to_string(),
            None => st.catalog.peek_query_id("INSERTQUERY", ""),
        };
        let parts = self.partitions_fn();
        let plan = self.planner(st, &id, &parts).plan(query, Purpose::Insert { target: &def })?;
        self.log_command(st, text, Some(&id), session)?;
        let opts = self.query_options(session)?;
        let info = QueryInfo {
            id: id.clone(),
            sql: text.to_string(),
            sink: target.to_string(),
            sink_topic: def.topic.clone(),
            sources: plan.sources.iter().map(|s| s.name.clone()).collect(),
            state: QueryState::Running,
            max_task_idle: opts.max_task_idle,
            num_stream_threads: opts.num_threads,
            processing_guarantee: opts.processing_guarantee,
            session_timeout: opts.session_timeout,
            fail_on_production_error: opts.fail_on_production_error,
        };
        self.register_query(st, info, text, session)
    }

    /// Adds a persistent query to the catalog and starts it (or, while the command topic is
    /// replayed, queues it to start once the replay is over).
    fn register_query(
        &self,
        st: &mut State,
        info: QueryInfo,
        text: &str,
        session: &Session,
    ) -> Result<StatementResult> {
        let id = info.id.clone();
        st.catalog.add_query(info);
        let opts = self.query_options(session)?;
        if st.replaying {
            st.pending.push(id.clone());
        } else if let Err(e) = self.start_query(st, &id, text, opts) {
            let _ = st.catalog.remove_query(&id);
            return Err(e);
        }
        Ok(StatementResult::Message { message: format!("Created query with ID {id}"), query_id: Some(id) })
    }

    /// Plans and compiles a persistent query's statement.
    pub(crate) fn compile_persistent(
        &self,
        st: &State,
        id: &str,
        sql: &str,
    ) -> Result<(QueryPlan, Topology)> {
        let parsed = parser::parse_statement(sql)?;
        let parts = self.partitions_fn();
        let planner = self.planner(st, id, &parts);
        let (plan, sink) = match &parsed.statement {
            Statement::CreateAsSelect(c) => {
                let plan = planner.plan(&c.query, Purpose::Create { kind: c.kind, name: &c.name })?;
                (plan, st.catalog.source(&c.name)?)
            }
            Statement::InsertSelect { target, query } => {
                let def = st.catalog.source(target)?;
                if def.value_format == Format::DebeziumJson {
                    return Err(Error::plan(format!(
                        "cannot insert into {target}: it reads Debezium change events \
                         (VALUE_FORMAT='DEBEZIUM_JSON'), which Brook does not write"
                    )));
                }
                (planner.plan(query, Purpose::Insert { target: &def })?, def)
            }
            _ => return Err(Error::Internal(format!("query {id} is not a persistent query: {sql}"))),
        };
        let topology = compile(
            &plan,
            Sink::Topic {
                topic: sink.topic.clone(),
                key_format: sink.key_format.clone(),
                value_format: sink.value_format.clone(),
                wrap_single_value: sink.wrap_single_value,
            },
            &self.options(id),
        )?;
        Ok((plan, topology))
    }

    /// Starts a registered persistent query.
    pub(crate) fn start_query(&self, st: &mut State, id: &str, sql: &str, opts: QueryOptions) -> Result<()> {
        self.ensure_processing_log()?;
        let (_, topology) = self.compile_persistent(st, id, sql)?;
        st.executor.start(id, topology, opts)
    }

    pub(crate) fn push_query(&self, q: &Query, text: &str, session: &Session) -> Result<StatementResult> {
        let n = self.next_transient_id();
        let id = format!("transient_{}_{n}", q.from.name);
        let (tx, rx) = tokio::sync::mpsc::channel(self.push_buffer_rows());
        // Set once the query has sent its last row (LIMIT) or is cancelled; a callback
        // waiting for room in the buffer gives up then.
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let offered = count.clone();
        let limit = q.limit;
        let (cb_tx, cb_done) = (tx.clone(), done.clone());
        let callback: CallbackSink = Arc::new(move |rec: &OutputRecord| {
            if cb_done.load(Ordering::Acquire) {
                return;
            }
            let Some(v) = rec.value.as_ref() else { return };
            let row: serde_json::Value = serde_json::from_slice(v).unwrap_or(serde_json::Value::Null);
            if !offer(&cb_tx, PushEvent::Row(row), &cb_done) {
                return;
            }
            let sent = count.fetch_add(1, Ordering::AcqRel) + 1;
            if limit.is_some_and(|l| sent >= l) {
                offer(&cb_tx, PushEvent::End(None), &cb_done);
                cb_done.store(true, Ordering::Release);
            }
        });
        let mut st = self.state.lock();
        let parts = self.partitions_fn();
        let plan = self.planner(&st, &id, &parts).plan(q, Purpose::Push)?;
        let columns = plan
            .root
            .schema()
            .fields
            .iter()
            .filter(|f| matches!(f.role, FieldRole::Column(_)))
            .map(|f| Ok(ColumnInfo { name: f.name.clone(), ty: SqlType::from_arrow(&f.data_type)? }))
            .collect::<Result<Vec<_>>>()?;
        let topology =
            compile(&plan, Sink::Callback { name: format!("push-{id}"), callback }, &self.options(&id))?;
        self.ensure_processing_log()?;
        let canceller = st.executor.push(&id, topology, self.query_options(session)?)?;
        drop(st);
        tracing::debug!(query = %id, sql = text, "push query started");
        if self.deterministic && !done.swap(true, Ordering::AcqRel) {
            let _ = tx.try_send(PushEvent::End(None));
        }
        let end_tx = tx;
        let cancel: super::result::Canceller = Box::new(move || {
            // First release a callback waiting for room, so the stream thread can stop.
            done.store(true, Ordering::Release);
            canceller();
            // The reader also sees the end when the channel closes, should the buffer be full.
            let _ = end_tx.try_send(PushEvent::End(None));
        });
        Ok(StatementResult::Push(PushQuery {
            id,
            columns,
            rows: rx,
            offered,
            cancel: Arc::new(Mutex::new(Some(cancel))),
            cancelled: Arc::new(AtomicBool::new(false)),
        }))
    }

    pub(crate) fn terminate(&self, st: &mut State, id: Option<&str>, text: &str) -> Result<StatementResult> {
        let ids: Vec<String> = match id {
            Some(id) => vec![st.catalog.query(id)?.id.clone()],
            None => st.catalog.queries().map(|q| q.id.clone()).collect(),
        };
        self.log_command(st, text, None, &Session::default())?;
        for id in &ids {
            st.executor.stop(id, true)?;
            st.catalog.remove_query(id)?;
        }
        Ok(message(match id {
            Some(_) => "Query terminated.".to_string(),
            None => format!("{} queries terminated.", ids.len()),
        }))
    }

    pub(crate) fn pause(
        &self,
        st: &mut State,
        id: Option<&str>,
        text: &str,
        pause: bool,
    ) -> Result<StatementResult> {
        let ids: Vec<String> = match id {
            Some(id) => vec![st.catalog.query(id)?.id.clone()],
            None => st.catalog.queries().map(|q| q.id.clone()).collect(),
        };
        self.log_command(st, text, None, &Session::default())?;
        for id in &ids {
            let info = st.catalog.query(id)?.clone();
            if pause && info.state == QueryState::Running {
                if !st.replaying {
                    st.executor.stop(id, false)?;
                }
                st.catalog.set_query_state(id, QueryState::Paused)?;
            } else if !pause && info.state != QueryState::Running {
                if !st.replaying {
                    self.start_query(st, id, &info.sql, QueryOptions::restart(&info))?;
                }
                st.catalog.set_query_state(id, QueryState::Running)?;
            }
        }
        Ok(message(if pause { "Query paused." } else { "Query resumed." }))
    }

    pub(crate) fn explain(
        &self,
        st: &mut State,
        inner: &Parsed,
        _session: &Session,
    ) -> Result<StatementResult> {
        let id = "EXPLAIN";
        let parts = self.partitions_fn();
        let planner = self.planner(st, id, &parts);
        let plan = match &inner.statement {
            Statement::CreateAsSelect(c) => {
                planner.plan(&c.query, Purpose::Create { kind: c.kind, name: &c.name })?
            }
            Statement::InsertSelect { target, query } => {
                let def = st.catalog.source(target)?;
                planner.plan(query, Purpose::Insert { target: &def })?
            }
            Statement::Select(q) if q.emit.is_some() => planner.plan(q, Purpose::Push)?,
            Statement::Select(_) => {
                return Ok(StatementResult::Explain {
                    query_id: None,
                    sql: inner.text.clone(),
                    plan: vec!["> [ PULL ] reads the materialized state of the source".into()],
                    topology: String::new(),
                });
            }
            other => {
                return Err(Error::plan(format!("EXPLAIN works on queries, not on {}", other.kind_name())));
            }
        };
        let topology = compile(
            &plan,
            Sink::Topic {
                topic: "<sink>".into(),
                key_format: Format::Kafka,
                value_format: Format::Json,
                wrap_single_value: true,
            },
            &self.options(id),
        )
        .map(|t| t.describe())
        .unwrap_or_default();
        Ok(StatementResult::Explain {
            query_id: None,
            sql: inner.text.clone(),
            plan: plan.describe(),
            topology,
        })
    }

    pub(crate) fn explain_query(&self, st: &mut State, id: &str) -> Result<StatementResult> {
        let info = st.catalog.query(id)?.clone();
        let (plan, topology) = self.compile_persistent(st, id, &info.sql)?;
        Ok(StatementResult::Explain {
            query_id: Some(id.to_string()),
            sql: info.sql,
            plan: plan.describe(),
            topology: topology.describe(),
        })
    }
}
