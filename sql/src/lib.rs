//! # brook-sql
//!
//! Brook SQL: ksqlDB's dialect, planned with DataFusion and compiled onto the streams engine.
//!
//! ```text
//!  text ──parser──► Statement ──engine──┬─ DDL / introspection ──► catalog (command topic)
//!                                       └─ queries ──planner (DataFusion exprs)──► QueryPlan
//!                                                   ──compile──► brook_streams::Topology
//!                                                   (Arrow-batch TaskProcessors)
//!
//!  task: InputRecords ─decode─► RecordBatch ─filter/project/aggregate/join─► RecordBatch ─encode─► OutputRecords
//! ```
//!
//! * [`parser`] — statements on top of `sqlparser`, errors with line and column.
//! * [`types`] — SQL types and their Arrow representation.
//! * [`catalog`] — streams, tables, types, variables, persistent queries.
//! * [`mod@format`] — JSON, DELIMITED, KAFKA and NONE encodings of keys and values.
//! * [`planner`] — `SELECT` → [`planner::QueryPlan`], expressions planned by DataFusion.
//! * [`functions`] — the streaming aggregate functions.
//! * [`limits`] — how deeply JSON values, types and expressions may nest.
//! * [`compile`] — [`planner::QueryPlan`] → topology of batch operators.
//! * [`operator`] — the Arrow batch operators compiled queries run (decode, filter, project,
//!   aggregate, join, encode), and the processing log they write.
//! * [`engine`] — executes statements against a cluster (embedded or remote) and the streams
//!   runtime.
//! * [`connector`] — connector statements, run by a [`connector::ConnectorHost`] the binary
//!   installs (the SQL layer does not depend on `brook-connect`).
//! * [`api`] — the ksqlDB-shaped JSON entities of the HTTP API.
//! * [`standalone`] — a registered query's topology, for callers that run it themselves.

pub mod api;
pub mod catalog;
pub mod compile;
pub mod connector;
pub mod engine;
pub mod error;
pub mod format;
pub mod functions;
pub mod limits;
pub mod operator;
pub mod parser;
pub mod planner;
pub mod standalone;
pub mod types;

pub use engine::{Engine, EngineConfig, Executed, Session, StatementResult};
pub use error::{Error, Result};
