//! Introspection: `SHOW`/`LIST`, `DESCRIBE`, `DESCRIBE FUNCTION`.

use super::result::{FunctionSummary, QuerySummary, SourceDescription, SourceSummary, TopicSummary};
use super::{Engine, PROPERTIES, Session, State, StatementResult};
use crate::catalog::{ColumnRole, QueryState, SourceDef};
use crate::error::{Error, Result};
use crate::functions::AGGREGATE_NAMES;
use crate::parser::{ShowTarget, SourceKind};

fn summary(s: &SourceDef) -> SourceSummary {
    SourceSummary {
        name: s.name.clone(),
        topic: s.topic.clone(),
        key_format: s.key_format.to_string(),
        value_format: s.value_format.to_string(),
        windowed: s.window.is_some(),
    }
}

impl Engine {
    fn topic_size(&self, topic: &str) -> (i32, i64) {
        let Some(n) = self.partitions(topic) else { return (0, 0) };
        let records = (0..n).filter_map(|p| self.cluster.offsets(topic, p).ok()).map(|(s, e)| e - s).sum();
        (n, records)
    }

    pub(crate) fn show(
        &self,
        st: &State,
        target: ShowTarget,
        _extended: bool,
        session: &Session,
    ) -> Result<StatementResult> {
        Ok(match target {
            ShowTarget::Streams => StatementResult::Streams(
                st.catalog.sources().filter(|s| s.kind == SourceKind::Stream).map(|s| summary(s)).collect(),
            ),
            ShowTarget::Tables => StatementResult::Tables(
                st.catalog.sources().filter(|s| s.kind == SourceKind::Table).map(|s| summary(s)).collect(),
            ),
            ShowTarget::Topics { all } => StatementResult::Topics(
                self.cluster
                    .list_topics()?
                    .into_iter()
                    .filter(|t| all || !(t.starts_with('_') || t.starts_with("__")))
                    .map(|name| {
                        let (partitions, records) = self.topic_size(&name);
                        TopicSummary { name, partitions, records }
                    })
                    .collect(),
            ),
            ShowTarget::Queries => {
                let failed: std::collections::HashMap<String, String> =
                    st.executor.failures().into_iter().collect();
                StatementResult::Queries(
                    st.catalog
                        .queries()
                        .map(|q| {
                            let error = match (&q.state, failed.get(&q.id)) {
                                (_, Some(failure)) => Some(failure.clone()),
                                (QueryState::Error(e), None) => Some(e.clone()),
                                _ => None,
                            };
                            QuerySummary {
                                id: q.id.clone(),
                                sql: q.sql.clone(),
                                sink: q.sink.clone(),
                                sink_topic: q.sink_topic.clone(),
                                state: if error.is_some() {
                                    "ERROR".to_string()
                                } else {
                                    q.state.to_string()
                                },
                                error,
                            }
                        })
                        .collect(),
                )
            }
            ShowTarget::Functions => {
                let mut v: Vec<FunctionSummary> = AGGREGATE_NAMES
                    .iter()
                    .map(|n| FunctionSummary { name: n.to_string(), kind: "AGGREGATE".into() })
                    .collect();
                v.extend(
                    self.exprs
                        .scalar_function_names()
                        .into_iter()
                        .map(|name| FunctionSummary { name, kind: "SCALAR".into() }),
                );
                v.sort_by(|a, b| a.name.cmp(&b.name));
                StatementResult::Functions(v)
            }
            ShowTarget::Properties => {
                let mut v: Vec<(String, String)> = PROPERTIES
                    .iter()
                    .map(|(n, _)| {
                        let default = match *n {
                            "auto.offset.reset" | "ksql.streams.auto.offset.reset" => {
                                match self.config.default_offset_reset {
                                    brook_streams::OffsetReset::Earliest => "earliest".to_string(),
                                    brook_streams::OffsetReset::Latest => "latest".to_string(),
                                }
                            }
                            "max.task.idle.ms" | "ksql.streams.max.task.idle.ms" => {
                                brook_streams::runtime::DEFAULT_MAX_TASK_IDLE_MS.to_string()
                            }
                            "num.stream.threads" | "ksql.streams.num.stream.threads" => {
                                match &self.config.mode {
                                    super::Mode::Runtime(r) => r.threads_per_query.to_string(),
                                    super::Mode::Deterministic => "1".to_string(),
                                }
                            }
                            super::FAIL_ON_PRODUCTION_ERROR => {
                                self.config.fail_on_production_error.to_string()
                            }
                            _ => String::new(),
                        };
                        (n.to_string(), session.properties.get(*n).cloned().unwrap_or(default))
                    })
                    .collect();
                v.sort();
                StatementResult::Properties(v)
            }
            ShowTarget::Types => StatementResult::Types(
                st.catalog.types().iter().map(|(n, t)| (n.clone(), t.to_string())).collect(),
            ),
            ShowTarget::Variables => StatementResult::Variables(
                st.catalog.variables().iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            ),
            ShowTarget::Connectors { kind } => return self.show_connectors(kind),
        })
    }

    fn description(&self, st: &State, s: &SourceDef, extended: bool) -> SourceDescription {
        let (partitions, records) = if extended { self.topic_size(&s.topic) } else { (0, 0) };
        let role = |r: &ColumnRole| match r {
            ColumnRole::Key if s.kind == SourceKind::Table => "PRIMARY KEY".to_string(),
            ColumnRole::Key => "KEY".to_string(),
            ColumnRole::Value => String::new(),
            ColumnRole::Headers => "HEADERS".to_string(),
            ColumnRole::Header(k) => format!("HEADER('{k}')"),
        };
        SourceDescription {
            name: s.name.clone(),
            kind: s.kind.to_string(),
            columns: s.columns.iter().map(|c| (c.name.clone(), c.ty.clone(), role(&c.role))).collect(),
            topic: s.topic.clone(),
            key_format: s.key_format.to_string(),
            value_format: s.value_format.to_string(),
            timestamp: s.timestamp_column.clone(),
            window: s.window.map(|w| w.kind.to_string()),
            statement: s.sql.clone(),
            read_queries: st
                .catalog
                .queries()
                .filter(|q| q.sources.contains(&s.name))
                .map(|q| q.id.clone())
                .collect(),
            write_queries: st.catalog.queries().filter(|q| q.sink == s.name).map(|q| q.id.clone()).collect(),
            partitions,
            records,
            runtime: extended.then(|| {
                let mut sum = brook_streams::task::TaskMetrics::default();
                for q in st.catalog.queries().filter(|q| q.sink == s.name) {
                    if let Some(m) = st.executor.metrics(&q.id) {
                        sum += m;
                    }
                }
                sum
            }),
            extended,
        }
    }

    pub(crate) fn describe(&self, st: &State, name: &str, extended: bool) -> Result<StatementResult> {
        let s = st.catalog.source(name)?;
        Ok(StatementResult::Description(Box::new(self.description(st, &s, extended))))
    }

    pub(crate) fn describe_all(
        &self,
        st: &State,
        kind: SourceKind,
        extended: bool,
    ) -> Result<StatementResult> {
        Ok(StatementResult::Descriptions(
            st.catalog
                .sources()
                .filter(|s| s.kind == kind)
                .map(|s| self.description(st, s, extended))
                .collect(),
        ))
    }

    pub(crate) fn describe_function(&self, name: &str) -> Result<StatementResult> {
        let upper = name.to_uppercase();
        let kind = if AGGREGATE_NAMES.contains(&upper.as_str()) {
            "AGGREGATE"
        } else if self.exprs.scalar_function_names().contains(&upper) {
            "SCALAR"
        } else {
            return Err(Error::Catalog(format!(
                "function {upper} does not exist; SHOW FUNCTIONS; lists them"
            )));
        };
        Ok(StatementResult::Functions(vec![FunctionSummary { name: upper, kind: kind.into() }]))
    }
}
