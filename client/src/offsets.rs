//! A consumer group's committed position in one partition.

/// What a consumer group committed for a partition: the next offset it will read, and an opaque
/// string the committer chose (Kafka's commit metadata), returned as it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Committed {
    /// The next offset the group will read.
    pub offset: i64,
    /// Opaque metadata stored with the offset (may be empty).
    pub metadata: String,
}

impl Committed {
    /// A position without metadata.
    pub fn new(offset: i64) -> Self {
        Committed { offset, metadata: String::new() }
    }

    /// A position with metadata.
    pub fn with_metadata(offset: i64, metadata: impl Into<String>) -> Self {
        Committed { offset, metadata: metadata.into() }
    }
}
