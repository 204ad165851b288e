//! # brook-client
//!
//! Where Brook's topics live. Everything above the broker — connectors, the command-line tools,
//! the examples — reaches topics through one [`Cluster`] abstraction, and does not care whether
//! the topics are in this process or in a cluster across the network:
//!
//! ```text
//!   connect / cli / examples
//!            │  Arc<dyn Cluster>
//!            ▼
//!   ┌─────────────────────┐      ┌──────────────────────────────────────────────┐
//!   │ EmbeddedCluster     │      │ KafkaCluster                                 │
//!   │ function calls on   │      │ librdkafka (rdkafka crate) over TCP to Apache │
//!   │ an in-process Broker│      │ Kafka, Redpanda, or `brook server` elsewhere │
//!   └─────────────────────┘      └──────────────────────────────────────────────┘
//! ```
//!
//! A record travels like this: the caller hands [`NewRecord`]s (or a pre-encoded
//! [`RecordBatchBuilder`]) to [`Cluster::produce`] / [`Cluster::append`]; the embedded
//! implementation writes them as one record batch into the partition's log, the Kafka
//! implementation sends them with an idempotent `acks=all` producer. [`Cluster::sync`] waits
//! until they are durable. Readers ask [`Cluster::offsets`] where a partition starts and ends and
//! pull [`Record`]s with [`Cluster::read`]; consumer groups keep their position with
//! [`Cluster::commit`] / [`Cluster::committed`].
//!
//! * [`cluster`] — the [`Cluster`] trait and its contract.
//! * [`connection`] — [`Connection`]: where long-lived clients (stream threads) connect.
//! * [`embedded`] — [`EmbeddedCluster`]: the in-process broker, no sockets.
//! * [`kafka`] — [`KafkaCluster`]: any Kafka-protocol cluster.
//! * [`topic`] — what a topic description holds ([`TopicInfo`]).
//! * [`offsets`] — a consumer group's committed position ([`Committed`]).
//! * [`error`] — the crate's [`Error`].
//!
//! ## Why rdkafka for remote clusters
//!
//! The remote side uses the `rdkafka` crate over librdkafka: librdkafka is the reference
//! Kafka client outside the JVM (idempotent producer, consumer groups, admin API, every
//! compression codec), it is what Arroyo and RisingWave use from Rust, and it is already in
//! Brook's build (the streams runtime and the broker's compatibility tests use it), so the
//! client adds no new heavy dependency.
//!
//! ## Room for more
//!
//! Transactions (a transactional producer that appends to several partitions and commits a
//! group's offsets atomically) and consumer-group membership (subscribe, rebalance) are not part
//! of the trait yet; they will be added as further methods next to [`Cluster::commit`], with the
//! same two implementations.

pub mod cluster;
pub mod connection;
pub mod embedded;
pub mod error;
pub mod kafka;
pub mod offsets;
pub mod topic;
mod wait;

pub use brook_broker::log::record_batch::RecordBatchBuilder;
pub use brook_broker::{Header, NewRecord, Record};
pub use cluster::Cluster;
pub use connection::Connection;
pub use embedded::EmbeddedCluster;
pub use error::{Error, Result};
pub use kafka::KafkaCluster;
pub use offsets::Committed;
pub use topic::{ConfigEntry, PartitionInfo, TopicInfo};
