//! # brook-broker
//!
//! Brook's built-in broker: a durable, partitioned log that stores Kafka record batches, with
//! consumer-group offsets, retention and compaction — usable in-process through [`Broker`].
//!
//! ```text
//!  producer ──► Broker::append / produce ──► PartitionLog ──► segment files (RecordBatch v2)
//!                                                │  ▲
//!                            Flusher (group commit)  │ Cleaner (retention, compaction)
//!  consumer ◄── Broker::fetch / read ◄───────────┘
//! ```
//!
//! * [`log`] — segments, indexes, recovery, flushing, retention and compaction; no networking.
//! * [`group`] — the consumer-group coordinator and committed offsets, stored in the compacted
//!   internal topic `__consumer_offsets`.
//! * [`txn`] — the transaction coordinator (Kafka transactions: transactional producers,
//!   markers, read_committed), stored in the compacted internal topic `__transaction_state`.
//! * [`partitioner`] — Kafka's murmur2 default partitioner.
//! * [`broker`] — topics and the in-process API the engine and the protocol server use.
//! * [`server`] — the Kafka wire-protocol server (tokio listener, one handler per API).

pub mod broker;
pub mod error;
pub mod group;
pub mod log;
pub mod partitioner;
pub mod server;
pub mod txn;
pub mod util;

pub use broker::{Broker, BrokerConfig, ProduceResult, Topic, TopicDescription, is_internal_topic};
pub use error::{Error, Result};
pub use group::OffsetAndMetadata;
pub use log::{
    AppendInfo, FetchData, Header, Isolation, LogConfig, NewRecord, OffsetSpec, PartitionLog, PartitionStats,
    Record, TopicConfig,
};
