//! The broker's error type. Variants are named by who is at fault, and each maps to the Kafka
//! error code a client would receive for it.

use std::path::PathBuf;

/// Errors returned by the broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topic or partition does not exist.
    #[error("unknown topic or partition: {0} (create it first, e.g. `brook topic create {0}`)")]
    UnknownTopicOrPartition(String),
    /// A topic with this name already exists.
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    /// The topic name is not a legal Kafka topic name.
    #[error("invalid topic name '{0}': use 1-249 characters from [a-zA-Z0-9._-], not '.' or '..'")]
    InvalidTopicName(String),
    /// The requested partition count is not allowed.
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    /// A topic config name or value is not valid.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A record batch sent by a client (or found on disk) is malformed.
    #[error("invalid record batch: {0}")]
    InvalidRecordBatch(String),
    /// The batch is larger than the topic's `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes={max}")]
    MessageTooLarge {
        /// Size of the rejected batch.
        size: usize,
        /// The topic's limit.
        max: usize,
    },
    /// The requested offset is outside the partition's log.
    #[error("offset {offset} is out of range [{log_start}, {log_end}] for {topic}-{partition}")]
    OffsetOutOfRange {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// First offset still in the log.
        log_start: i64,
        /// Offset after the last record.
        log_end: i64,
    },
    /// An idempotent producer sent a sequence number out of order.
    #[error("out-of-order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The next sequence the broker expects.
        expected: i32,
        /// The sequence received.
        got: i32,
    },
    /// An idempotent producer used an epoch older than the broker knows.
    #[error("producer {producer_id} is fenced: epoch {got} is older than {current}")]
    ProducerFenced {
        /// Producer id.
        producer_id: i64,
        /// Current epoch.
        current: i16,
        /// Epoch received.
        got: i16,
    },
    /// Data on disk is damaged.
    #[error("corrupt log data in {path} at byte {position}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the damage.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An operating-system I/O error, with what the broker was doing.
    #[error("{context}: {source}")]
    Io {
        /// What the broker was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process has the data directory open.
    #[error(
        "data directory {0} is in use by another Brook process; stop it, or talk to it with --bootstrap HOST:PORT"
    )]
    DataDirInUse(PathBuf),
    /// The broker is shutting down.
    #[error("the broker is shutting down")]
    ShuttingDown,
}

impl Error {
    /// Wraps an I/O error with a description of what failed.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// The Kafka protocol error code for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            Error::UnknownTopicOrPartition(_) => 3,
            Error::TopicAlreadyExists(_) => 36,
            Error::InvalidTopicName(_) => 17,
            Error::InvalidPartitions(_) => 37,
            Error::InvalidConfig(_) => 40,
            Error::InvalidRecordBatch(msg) if msg.contains("CRC") => 2,
            Error::InvalidRecordBatch(_) => 87,
            Error::MessageTooLarge { .. } => 10,
            Error::OffsetOutOfRange { .. } => 1,
            Error::OutOfOrderSequence { .. } => 45,
            Error::ProducerFenced { .. } => 47,
            Error::Corrupt { .. } => 2,
            Error::Io { .. } => 56,
            Error::DataDirInUse(_) => 56,
            Error::ShuttingDown => 6,
        }
    }
}

/// Result type of the broker crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
