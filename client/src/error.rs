//! The client's error type, with variants named by who is at fault: the embedded broker, the
//! remote cluster, or the caller (a missing or already existing topic, a bad argument).

/// Errors of the cluster client. Messages name what failed and where, and can be shown to a
/// user as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded broker refused or failed an operation.
    #[error("broker: {0}")]
    Broker(brook_broker::Error),
    /// A remote cluster could not be reached, or refused or failed an operation.
    #[error("cluster at {bootstrap}: {message}")]
    Remote {
        /// Where the cluster was looked for (HOST:PORT[,…]).
        bootstrap: String,
        /// What was being done and what the client library reported.
        message: String,
    },
    /// The topic (or the partition) does not exist.
    #[error("topic '{topic}' does not exist in {cluster}; create it first (brook topic create)")]
    UnknownTopic {
        /// The topic, or `topic-partition`.
        topic: String,
        /// Which cluster was asked ([`crate::Cluster::describe`]).
        cluster: String,
    },
    /// A topic with this name already exists.
    #[error("topic '{0}' already exists; delete it first or choose another name")]
    TopicExists(String),
    /// The consumer group still has members, so it cannot be deleted.
    #[error("consumer group '{group}' in {cluster} has active members; stop its consumers, then delete it")]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// Which cluster was asked ([`crate::Cluster::describe`]).
        cluster: String,
    },
    /// The caller asked for something that cannot be done; the message says what to change.
    #[error("{0}")]
    Invalid(String),
}

/// Result type of the client crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<brook_broker::Error> for Error {
    fn from(e: brook_broker::Error) -> Self {
        match e {
            brook_broker::Error::TopicAlreadyExists(t) => Error::TopicExists(t),
            e => Error::Broker(e),
        }
    }
}
