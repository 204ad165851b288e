//! # brook-connect
//!
//! Connectors move data between files and topics: **sources** read files — Debezium change
//! events, JSON lines, CSV — into topics, and **sinks** write topics out to JSON-lines or
//! Parquet files. Both resume exactly where they stopped, even after `kill -9`.
//!
//! ```text
//!   files ─► FileSource ─► decode (debezium_json | json | csv) ─► topic (keyed by row key)
//!              │  malformed line ─────────────────────────────► dead-letter topic
//!              └─ position: record headers + checkpoint ──────► _brook_connect_offsets
//!
//!   topic ─► FileSink ─► JSON lines | Parquet ─► tmp file ─► rename to <topic>-<p>-<first>-<last>
//!                                                         └► consumer-group commit
//!
//!   ConnectorManager: runs many connectors in one process; definitions in _brook_connectors
//! ```
//!
//! A record travels through a source like this: [`files`] finds the input files in order;
//! [`reader`] cuts complete records out of a file (a line still being written waits);
//! [`mod@format`] decodes one record — for change events, [`debezium`] keys it by the row's
//! primary key and turns deletes into a delete marker plus a tombstone; [`source`] routes the
//! result to a partition with Kafka's partitioner, stamps its input position in the headers
//! ([`position`]) and appends it through a [`brook_client::Cluster`] (the embedded broker, or a
//! Kafka-protocol cluster). [`checkpoint`] explains why that is exactly
//! once. [`sink`] goes the other way.
//!
//! # For the SQL layer
//!
//! The SQL engine drives connectors through [`ConnectorManager`]; every statement maps to one
//! call, and `WITH (...)` properties are passed through as strings ([`config`] lists them):
//!
//! | statement | call |
//! |---|---|
//! | `CREATE SOURCE CONNECTOR n WITH ('connector'='file', 'path'=…, 'format'=…, 'topic'=…)` | `manager.create(ConnectorDefinition::new("n", ConnectorKind::Source, props)?)` |
//! | `CREATE SINK CONNECTOR n WITH ('connector'='file'\|'parquet', 'path'=…, 'topic'=…)` | `manager.create(ConnectorDefinition::new("n", ConnectorKind::Sink, props)?)` |
//! | `SHOW CONNECTORS` | `manager.list()` → [`ConnectorStatus`] rows |
//! | `DESCRIBE CONNECTOR n` | `manager.describe("n")?` → [`ConnectorStatus`] (state, counters, last error, properties) |
//! | `DROP CONNECTOR n` | `manager.drop_connector("n")?` (stops it, forgets its definition and position) |
//!
//! In `brook server`, open the manager once with [`ConnectorManager::open`] over the server's
//! broker: it reads `_brook_connectors` and restarts every stored connector, so connectors
//! survive server restarts; call [`ConnectorManager::shutdown`] before closing the broker.
//! Errors are [`Error`]s whose messages can be shown to the user as they are.
//!
//! ```no_run
//! use std::sync::Arc;
//! use brook_connect::{ConnectorDefinition, ConnectorKind, ConnectorManager};
//! # fn main() -> brook_connect::Result<()> {
//! let broker = brook_broker::Broker::open(brook_broker::BrokerConfig::new("/var/lib/brook"))?;
//! let manager = ConnectorManager::open(Arc::new(brook_client::EmbeddedCluster::new(broker.clone())))?;
//! manager.create(ConnectorDefinition::new(
//!     "customers",
//!     ConnectorKind::Source,
//!     [("connector", "file"), ("path", "/data/cdc/customers"), ("format", "debezium_json"),
//!      ("topic", "inventory.customers"), ("key", "id")],
//! )?)?;
//! for status in manager.list() {
//!     println!("{} {} in={} out={} dlq={}", status.name, status.state, status.metrics.records_in,
//!              status.metrics.records_out, status.metrics.dlq);
//! }
//! manager.shutdown();
//! # Ok(()) }
//! ```

pub mod checkpoint;
pub mod config;
pub mod csv;
pub mod debezium;
pub mod error;
pub mod files;
pub mod format;
pub mod manager;
pub mod metrics;
pub mod position;
pub mod reader;
pub mod sink;
pub mod source;
pub mod stop;
pub mod synthetic;

pub use config::{ConnectorConfig, ConnectorDefinition, ConnectorKind, definitions_from_toml};
pub use error::{DecodeError, Error, Result};
pub use manager::{ConnectorManager, ConnectorStatus};
pub use metrics::{ConnectorState, Metrics, MetricsSnapshot};
pub use sink::FileSink;
pub use source::{FileSource, RunEnd};
pub use stop::StopSignal;
