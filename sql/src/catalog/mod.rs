//! The catalog: streams, tables, custom types, variables and persistent queries.
//!
//! The catalog is plain in-memory state; durability comes from the command topic
//! ([`command_log`]): every statement that changes the catalog is appended there before it
//! takes effect, and a restarted engine replays the topic to rebuild the catalog and restart
//! its persistent queries (whose consumer-group offsets and state stores survive on their
//! own).

pub mod command_log;
pub mod ddl;
pub mod source;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use source::{Column, ColumnRole, KeyWindow, SourceDef};

use crate::error::{Error, Result};
use crate::limits::NestingLimits;
use crate::parser::{SourceKind, TypeSpec};
use crate::types::SqlType;

/// Whether a persistent query runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryState {
    /// Processing.
    Running,
    /// Stopped by `PAUSE`, resumable.
    Paused,
    /// Stopped by an error.
    Error(String),
}

impl std::fmt::Display for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryState::Running => f.write_str("RUNNING"),
            QueryState::Paused => f.write_str("PAUSED"),
            QueryState::Error(_) => f.write_str("ERROR"),
        }
    }
}

/// A persistent query (CSAS, CTAS or INSERT INTO … SELECT).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryInfo {
    /// Id, e.g. `CSAS_BIG_ORDERS_3`.
    pub id: String,
    /// The statement text.
    pub sql: String,
    /// The stream or table it writes.
    pub sink: String,
    /// Its output topic.
    pub sink_topic: String,
    /// Streams and tables it reads.
    pub sources: Vec<String>,
    /// State.
    pub state: QueryState,
    /// `max.task.idle.ms` it was created with.
    pub max_task_idle: std::time::Duration,
    /// `num.stream.threads` it was created with, if set.
    pub num_stream_threads: Option<usize>,
    /// `processing.guarantee` it was created with.
    pub processing_guarantee: brook_streams::ProcessingGuarantee,
    /// The consumer's `session.timeout.ms` it was created with, if set.
    pub session_timeout: Option<std::time::Duration>,
    /// `ksql.fail.on.production.error` it was created with.
    pub fail_on_production_error: bool,
}

/// Streams, tables, types, variables and queries.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    sources: BTreeMap<String, Arc<SourceDef>>,
    types: BTreeMap<String, SqlType>,
    variables: BTreeMap<String, String>,
    queries: BTreeMap<String, QueryInfo>,
    next_query: u64,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream or table by name.
    pub fn source(&self, name: &str) -> Result<Arc<SourceDef>> {
        self.sources.get(name).cloned().ok_or_else(|| {
            Error::Catalog(format!(
                "{name} does not exist; SHOW STREAMS; and SHOW TABLES; list what does{}",
                self.suggest(name)
            ))
        })
    }

    fn suggest(&self, name: &str) -> String {
        match self.sources.keys().find(|k| k.eq_ignore_ascii_case(name)) {
            Some(k) => format!(" (did you mean `{k}`? names in back-quotes keep their case)"),
            None => String::new(),
        }
    }

    /// Whether a source exists.
    pub fn has_source(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// All sources, by name.
    pub fn sources(&self) -> impl Iterator<Item = &Arc<SourceDef>> {
        self.sources.values()
    }

    /// Registers a source. With `replace`, an existing source of the same kind is replaced.
    pub fn add_source(&mut self, def: SourceDef, replace: bool) -> Result<()> {
        if let Some(old) = self.sources.get(&def.name) {
            if !replace {
                return Err(Error::Catalog(format!(
                    "cannot add {} {}: a {} with the same name already exists",
                    def.kind.to_string().to_lowercase(),
                    def.name,
                    old.kind.to_string().to_lowercase()
                )));
            }
            if old.kind != def.kind {
                return Err(Error::Catalog(format!(
                    "cannot replace {} {} with a {}",
                    old.kind.to_string().to_lowercase(),
                    def.name,
                    def.kind.to_string().to_lowercase()
                )));
            }
        }
        self.sources.insert(def.name.clone(), Arc::new(def));
        Ok(())
    }

    /// Removes a source; fails while queries read or write it.
    pub fn drop_source(&mut self, name: &str, kind: SourceKind) -> Result<Arc<SourceDef>> {
        let def = self.source(name)?;
        if def.kind != kind {
            return Err(Error::Catalog(format!(
                "{name} is a {}, not a {}; use DROP {}",
                def.kind.to_string().to_lowercase(),
                kind.to_string().to_lowercase(),
                def.kind
            )));
        }
        let readers: Vec<&str> = self
            .queries
            .values()
            .filter(|q| q.sources.iter().any(|s| s == name))
            .map(|q| q.id.as_str())
            .collect();
        let writers: Vec<&str> =
            self.queries.values().filter(|q| q.sink == name).map(|q| q.id.as_str()).collect();
        if !readers.is_empty() || !writers.is_empty() {
            return Err(Error::Catalog(format!(
                "cannot drop {name}: queries read from it [{}] or write into it [{}]; TERMINATE them first",
                readers.join(", "),
                writers.join(", ")
            )));
        }
        self.sources.remove(name);
        Ok(def)
    }

    /// Registers a custom type.
    pub fn add_type(&mut self, name: &str, ty: SqlType, if_not_exists: bool) -> Result<bool> {
        if self.types.contains_key(name) {
            if if_not_exists {
                return Ok(false);
            }
            return Err(Error::Catalog(format!("type {name} already exists")));
        }
        self.types.insert(name.to_string(), ty);
        Ok(true)
    }

    /// Removes a custom type.
    pub fn drop_type(&mut self, name: &str, if_exists: bool) -> Result<bool> {
        match self.types.remove(name) {
            Some(_) => Ok(true),
            None if if_exists => Ok(false),
            None => Err(Error::Catalog(format!("type {name} does not exist"))),
        }
    }

    /// Custom types.
    pub fn types(&self) -> &BTreeMap<String, SqlType> {
        &self.types
    }

    /// Resolves a written type (custom type names included). A type nested deeper than
    /// [`NestingLimits::types`] is an error: the parser limits what is written, this limits
    /// what custom types add up to (`CREATE TYPE t2 AS ARRAY<t1>`, …).
    pub fn resolve_type(&self, spec: &TypeSpec) -> Result<SqlType> {
        let t = self.resolve_type_unchecked(spec)?;
        let limit = NestingLimits::current().types;
        if t.nesting_depth() > limit {
            return Err(Error::plan(format!(
                "the type is nested more than {limit} levels deep (type.max.nesting.depth)"
            )));
        }
        Ok(t)
    }

    fn resolve_type_unchecked(&self, spec: &TypeSpec) -> Result<SqlType> {
        Ok(match spec {
            TypeSpec::Builtin(t) => t.clone(),
            TypeSpec::Array(t) => SqlType::Array(Box::new(self.resolve_type_unchecked(t)?)),
            TypeSpec::Map(k, v) => SqlType::Map(
                Box::new(self.resolve_type_unchecked(k)?),
                Box::new(self.resolve_type_unchecked(v)?),
            ),
            TypeSpec::Struct(fields) => SqlType::Struct(
                fields
                    .iter()
                    .map(|(n, t)| Ok((n.clone(), self.resolve_type_unchecked(t)?)))
                    .collect::<Result<_>>()?,
            ),
            TypeSpec::Named(n) => self.types.get(n).cloned().ok_or_else(|| {
                Error::Catalog(format!("unknown type {n}; built-in types are BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL, STRING, BYTES, TIMESTAMP, DATE, TIME, ARRAY, MAP and STRUCT, and CREATE TYPE defines others"))
            })?,
        })
    }

    /// Sets a variable (names are case-insensitive).
    pub fn define(&mut self, name: &str, value: &str) {
        self.variables.insert(name.to_uppercase(), value.to_string());
    }

    /// Removes a variable; returns whether it existed.
    pub fn undefine(&mut self, name: &str) -> bool {
        self.variables.remove(&name.to_uppercase()).is_some()
    }

    /// Variables (upper-cased names).
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// The id the next query will get: `PREFIX_SINK_n` (or `PREFIX_n` without a sink). Ids
    /// are taken when the query is registered with [`Catalog::add_query`].
    pub fn peek_query_id(&self, prefix: &str, sink: &str) -> String {
        let n = self.next_query + 1;
        let sink: String = sink
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .collect();
        if sink.is_empty() { format!("{prefix}_{n}") } else { format!("{prefix}_{sink}_{n}") }
    }

    /// Makes sure ids handed out later do not collide with `id` (used during replay).
    pub fn observe_query_id(&mut self, id: &str) {
        if let Some(n) = id.rsplit('_').next().and_then(|n| n.parse::<u64>().ok()) {
            self.next_query = self.next_query.max(n);
        }
    }

    /// Registers a persistent query.
    pub fn add_query(&mut self, q: QueryInfo) {
        self.observe_query_id(&q.id);
        self.queries.insert(q.id.clone(), q);
    }

    /// A query by id.
    pub fn query(&self, id: &str) -> Result<&QueryInfo> {
        self.queries.get(id).ok_or_else(|| {
            Error::Catalog(format!("unknown query id {id}; SHOW QUERIES; lists the running queries"))
        })
    }

    /// Changes a query's state.
    pub fn set_query_state(&mut self, id: &str, state: QueryState) -> Result<()> {
        match self.queries.get_mut(id) {
            Some(q) => {
                q.state = state;
                Ok(())
            }
            None => Err(Error::Catalog(format!("unknown query id {id}"))),
        }
    }

    /// Removes a query.
    pub fn remove_query(&mut self, id: &str) -> Result<QueryInfo> {
        self.queries.remove(id).ok_or_else(|| {
            Error::Catalog(format!("unknown query id {id}; SHOW QUERIES; lists the running queries"))
        })
    }

    /// All persistent queries.
    pub fn queries(&self) -> impl Iterator<Item = &QueryInfo> {
        self.queries.values()
    }

    /// The query writing `sink` as CSAS/CTAS (its creator), if any.
    pub fn writer_of(&self, sink: &str) -> Option<&QueryInfo> {
        self.sources.get(sink).and_then(|s| s.writer.as_ref()).and_then(|id| self.queries.get(id))
    }
}
