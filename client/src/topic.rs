//! What [`crate::Cluster::describe_topic`] reports about a topic: its partitions with their
//! offsets, and its configuration.

/// A topic's partitions and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// One entry per partition, in partition order.
    pub partitions: Vec<PartitionInfo>,
    /// Every known topic config with its current value.
    pub configs: Vec<ConfigEntry>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// First available offset.
    pub log_start_offset: i64,
    /// Offset the next record will get.
    pub log_end_offset: i64,
    /// Bytes on disk, where the cluster tells (the embedded broker does).
    pub size_bytes: Option<u64>,
    /// Number of segment files, where the cluster tells (the embedded broker does).
    pub segments: Option<usize>,
}

/// One topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name (`cleanup.policy`, `retention.ms`, …).
    pub name: String,
    /// Current value.
    pub value: String,
    /// Whether the value is the default (not set on this topic).
    pub is_default: bool,
}
