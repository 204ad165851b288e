//! # brook-streams
//!
//! Brook's dataflow engine: topologies of operators run by tasks (one per input partition),
//! with event time, windows, joins and state in RocksDB — and a typed Rust DSL in the spirit of
//! Kafka Streams.
//!
//! ```text
//!  topic partitions ──► KafkaStreams (threads) ──► RunningTask per partition
//!                                                    │  TaskProcessor (DSL chain or SQL operators)
//!                                                    │  state stores (RocksDB, cached)
//!                                                    ▼
//!                                              output topics (or callback sinks)
//! ```
//!
//! * [`dsl`] — `StreamsBuilder`, `KStream`, `KTable`, grouping, windows, joins.
//! * [`topology`] — what a front end (DSL or SQL) hands to the runtime.
//! * [`runtime`] — threads that run tasks against an embedded broker or a Kafka cluster.
//! * [`test_driver`] — a deterministic, single-threaded driver for tests.
//! * [`time`] — event time: watermarks across partitions and repartition topics, idleness.
//! * [`state`] — key-value, window and session stores; RocksDB and in-memory.
//! * [`operator`] — the stateful operators.
//! * [`serde`] — serdes compatible with Kafka's standard serializers.

pub mod dsl;
pub mod error;
pub mod key_document;
pub mod operator;
pub mod record;
pub mod runtime;
pub mod serde;
pub mod state;
pub mod task;
pub mod test_driver;
pub mod time;
pub mod topology;
pub mod windowed_key;

pub use error::{Error, Result};
pub use record::{InputRecord, OutputRecord, Record};
pub use runtime::{Connection, KafkaStreams, OffsetReset, ProcessingGuarantee, StreamsConfig};
pub use topology::Topology;
