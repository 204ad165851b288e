//! The streams engine's error type, named by who is at fault.

/// Errors of the streams engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is malformed (a bug in how it was built, found before running).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A record could not be deserialized with the configured serde.
    #[error("cannot deserialize {what} of a record from {topic}: {reason}")]
    Deserialize {
        /// "key" or "value".
        what: &'static str,
        /// Source topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A value could not be serialized.
    #[error("cannot serialize a record for {topic}: {reason}")]
    Serialize {
        /// Target topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A state store is still open elsewhere — by another stream thread of this process that
    /// has not yet let go of a task a rebalance moved, or by another process on the same state
    /// directory. The runtime retries opening it for a while.
    #[error("state store {store} is locked (still open in another stream thread or process): {reason}")]
    StoreLocked {
        /// Store directory.
        store: String,
        /// What RocksDB reported.
        reason: String,
    },
    /// A state store failed.
    #[error("state store {store}: {reason}")]
    State {
        /// Store name.
        store: String,
        /// What failed.
        reason: String,
    },
    /// A store's checkpoint is past the end of its changelog partition: the changelog topic
    /// was deleted and created again. The store is then rebuilt from the changelog's start.
    #[error("changelog {topic}-{partition} ends at offset {end}, before the checkpointed offset {from}")]
    ChangelogBehindCheckpoint {
        /// Changelog topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Where reading was to start.
        from: i64,
        /// The partition's end.
        end: i64,
    },
    /// A commit could not complete because the thread's tasks moved or its transaction had to
    /// be aborted (exactly-once); the thread reopens its tasks from the last commit.
    #[error("tasks migrated: {0}")]
    TaskMigrated(String),
    /// The broker (embedded) returned an error.
    #[error("broker: {0}")]
    Broker(#[from] brook_broker::Error),
    /// The cluster refused an output record for what it is — larger than the topic's
    /// `max.message.bytes`, or otherwise invalid — rather than because it failed (see
    /// [`crate::runtime::production`]).
    #[error("cannot write a record to {topic}: {reason}")]
    RecordRejected {
        /// Target topic.
        topic: String,
        /// What the cluster said.
        reason: String,
    },
    /// A Kafka client operation failed.
    #[error("kafka client: {0}")]
    Kafka(String),
    /// A user function or operator reported an error.
    #[error("processing failed in {operator}: {reason}")]
    Processing {
        /// Operator name.
        operator: String,
        /// What went wrong.
        reason: String,
    },
    /// Configuration problem.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// I/O error with context.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The application was stopped.
    #[error("the streams application is shut down")]
    Shutdown,
}

impl From<rdkafka::error::KafkaError> for Error {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Error::Kafka(e.to_string())
    }
}

/// Result type of the streams crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
