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
    /// A record timestamp is outside the topic's `message.timestamp.{before,after}.max.ms`
    /// window, or not a valid timestamp at all.
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(String),
    /// A Kafka client tried to change an internal topic (`__*`, `_brook_*`); those are written
    /// only by the broker itself and Brook's own components.
    #[error(
        "{0} is an internal topic: Kafka clients may read it, only the broker and Brook's own components write it"
    )]
    InternalTopicWrite(String),
    /// The partition stopped after a storage error (a failed fsync or a write that could not be
    /// undone): nothing more is accepted or served until the broker restarts and recovers it.
    #[error(
        "{0} is offline after a storage error; restart the broker (recovery keeps every acknowledged record)"
    )]
    StorageOffline(String),
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
    /// A client sent a request the protocol server cannot decode or does not accept.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A client used a version of an API that the server does not implement.
    #[error("unsupported version {version} of API key {api_key}")]
    UnsupportedVersion {
        /// The Kafka API key.
        api_key: i16,
        /// The version requested.
        version: i16,
    },
    /// A consumer-group request named a member the coordinator does not know (it timed out or
    /// left); the client must rejoin.
    #[error("unknown member '{member}' of group '{group}': rejoin the group")]
    UnknownMemberId {
        /// Group id.
        group: String,
        /// Member id the client sent.
        member: String,
    },
    /// A consumer-group request carried a generation other than the group's current one.
    #[error("group '{group}' is at generation {current}, the request carried {got}")]
    IllegalGeneration {
        /// Group id.
        group: String,
        /// Current generation.
        current: i32,
        /// Generation the client sent.
        got: i32,
    },
    /// The group is rebalancing; the client must rejoin.
    #[error("group '{0}' is rebalancing: rejoin it")]
    RebalanceInProgress(String),
    /// The member's protocol type or protocols do not match the group's.
    #[error("inconsistent group protocol: {0}")]
    InconsistentGroupProtocol(String),
    /// The requested session timeout is outside what the coordinator allows.
    #[error("session timeout {got} ms is outside the allowed range [{min}, {max}] ms")]
    InvalidSessionTimeout {
        /// Timeout requested.
        got: i32,
        /// Smallest allowed.
        min: i32,
        /// Largest allowed.
        max: i32,
    },
    /// The group id is empty or otherwise not usable.
    #[error("invalid group id '{0}'")]
    InvalidGroupId(String),
    /// DeleteGroups named a group the coordinator does not know (no members, no committed
    /// offsets).
    #[error("consumer group '{0}' does not exist")]
    GroupIdNotFound(String),
    /// DeleteGroups named a group that still has members.
    #[error("consumer group '{0}' has active members: stop its consumers, then delete it")]
    NonEmptyGroup(String),
    /// A static member's instance id was taken over by a newer member.
    #[error("group instance id '{0}' is now used by another member")]
    FencedInstanceId(String),
    /// The offset commit's metadata string is longer than the coordinator stores.
    #[error("offset metadata of {size} bytes exceeds the limit of {max} bytes")]
    OffsetMetadataTooLarge {
        /// Size sent.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A transactional request or batch does not fit the transaction's state (e.g. a commit
    /// with nothing to commit, a write to a partition not added to the transaction).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// The producer id does not belong to the transactional id (or the id is unknown); the
    /// producer must call InitProducerId again.
    #[error("{0}")]
    InvalidProducerIdMapping(String),
    /// The requested `transaction.timeout.ms` is not allowed.
    #[error(
        "transaction.timeout.ms={got} is not allowed: use 1..={max} ms (the broker's transaction.max.timeout.ms)"
    )]
    InvalidTransactionTimeout {
        /// Timeout requested.
        got: i32,
        /// The broker's `transaction.max.timeout.ms`.
        max: i32,
    },
    /// Another operation on the same transactional id is completing; retry shortly.
    #[error("transactional id '{0}' is completing a transaction; retry")]
    ConcurrentTransactions(String),
    /// A newer producer with the same transactional id took over (or the coordinator aborted
    /// the transaction after its timeout): this producer must close.
    #[error(
        "producer fenced: transactional id '{transactional_id}' is at epoch {current}, the request carried {got}"
    )]
    TransactionalProducerFenced {
        /// Transactional id.
        transactional_id: String,
        /// The coordinator's current epoch.
        current: i16,
        /// Epoch the producer sent.
        got: i16,
    },
    /// The transaction coordinator cannot record state now (its log failed); retry.
    #[error("transaction coordinator not available: {0}")]
    CoordinatorNotAvailable(String),
    /// DescribeTransactions asked for a transactional id the coordinator does not know.
    #[error("unknown transactional id '{0}'")]
    TransactionalIdNotFound(String),
    /// The request did not complete within the client's timeout.
    #[error("request timed out after {0} ms")]
    RequestTimedOut(i64),
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
            Error::InvalidTimestamp(_) => 32,
            Error::InternalTopicWrite(_) => 17,
            Error::StorageOffline(_) => 56,
            Error::OffsetOutOfRange { .. } => 1,
            Error::OutOfOrderSequence { .. } => 45,
            Error::ProducerFenced { .. } => 47,
            Error::Corrupt { .. } => 2,
            Error::Io { .. } => 56,
            Error::DataDirInUse(_) => 56,
            Error::ShuttingDown => 6,
            Error::InvalidRequest(_) => 42,
            Error::UnsupportedVersion { .. } => 35,
            Error::UnknownMemberId { .. } => 25,
            Error::IllegalGeneration { .. } => 22,
            Error::RebalanceInProgress(_) => 27,
            Error::InconsistentGroupProtocol(_) => 23,
            Error::InvalidSessionTimeout { .. } => 26,
            Error::InvalidGroupId(_) => 24,
            Error::GroupIdNotFound(_) => 69,
            Error::NonEmptyGroup(_) => 68,
            Error::FencedInstanceId(_) => 82,
            Error::OffsetMetadataTooLarge { .. } => 12,
            Error::RequestTimedOut(_) => 7,
            Error::InvalidTxnState(_) => 48,
            Error::InvalidProducerIdMapping(_) => 49,
            Error::InvalidTransactionTimeout { .. } => 50,
            Error::ConcurrentTransactions(_) => 51,
            Error::TransactionalProducerFenced { .. } => 90,
            Error::TransactionalIdNotFound(_) => 105,
            Error::CoordinatorNotAvailable(_) => 15,
        }
    }
}

/// Result type of the broker crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
