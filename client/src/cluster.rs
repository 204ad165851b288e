//! [`Cluster`]: the operations on topics that Brook's connectors, tools and examples need,
//! implemented by the in-process broker ([`crate::EmbeddedCluster`]) and by any Kafka-protocol
//! cluster ([`crate::KafkaCluster`]).
//!
//! The trait is synchronous and object safe: callers hold an `Arc<dyn Cluster>` and call it from
//! their own threads (from async code, through `spawn_blocking`).
//!
//! Contract — what callers may assume, and implementers must guarantee:
//! * [`Cluster::append`] and [`Cluster::append_batch`] write the records to the partition in
//!   order. After a crash the partition holds a *prefix* of everything appended to it (never a
//!   gap, never a reordering). The embedded broker writes each call as one atomic batch; an
//!   idempotent `acks=all` Kafka producer gives the prefix property.
//! * [`Cluster::produce`] with no partition places keyed records with Kafka's murmur2
//!   partitioner, so a key lands on the same partition as with the Java client.
//! * [`Cluster::sync`] returns once every record appended so far to that partition, below the
//!   given end offset, is durable.
//! * [`Cluster::read`] returns records in offset order starting at the first offset ≥ `from`
//!   (compaction may leave gaps), and an empty vector at the end of the partition; it never
//!   waits for new records.
//! * [`Cluster::commit`] is durable when it returns and [`Cluster::committed`] returns the
//!   offset *and* the metadata string as they were committed.
//! * [`Cluster::create_topic`] fails with [`Error::TopicExists`] when the topic exists;
//!   operations on a missing topic fail with [`Error::UnknownTopic`] (or report `None` where the
//!   signature says so) and never create it — except that a remote cluster configured to
//!   auto-create topics may create one on [`Cluster::produce`], as it would for any producer.

use std::time::Duration;

use brook_broker::log::record_batch::{BatchHeader, RecordBatchBuilder};
use brook_broker::{NewRecord, Record};

use crate::error::{Error, Result};
use crate::offsets::Committed;
use crate::topic::TopicInfo;

/// Where topics live: produce, read, list offsets, topic administration and consumer-group
/// offsets. See the [module docs](self) for the contract.
pub trait Cluster: Send + Sync + 'static {
    /// A short description for messages ("data directory /var/brook", "cluster at host:9092").
    fn describe(&self) -> String;

    /// Where clients that connect by themselves (the streams runtime's consumers and
    /// producers) reach this cluster.
    fn connection(&self) -> crate::Connection;

    /// Names of all topics, sorted.
    fn list_topics(&self) -> Result<Vec<String>>;

    /// The number of partitions of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<i32>>;

    /// Partitions with their offsets, and configs, of `topic`.
    fn describe_topic(&self, topic: &str) -> Result<TopicInfo>;

    /// Creates `topic` with `partitions` partitions and config overrides (`cleanup.policy`, …).
    /// Fails with [`Error::TopicExists`] if it exists.
    fn create_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<()>;

    /// Deletes `topic` and its data.
    fn delete_topic(&self, topic: &str) -> Result<()>;

    /// Changes config overrides of `topic`: `(name, Some(value))` sets one, `(name, None)`
    /// returns it to its default; configs not named stay as they are. Invalid names or values
    /// fail and change nothing; a missing topic fails with [`Error::UnknownTopic`].
    fn alter_topic_config(&self, topic: &str, changes: &[(&str, Option<&str>)]) -> Result<()>;

    /// Writes records, all to `partition` if given, otherwise each to its key's partition
    /// (Kafka's murmur2). Returns `(partition, offset)` per record, in input order, once every
    /// record is acknowledged.
    fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(i32, i64)>>;

    /// Appends records to one partition, in order; returns the offset after the last one (the
    /// partition's end offset when `records` is empty).
    fn append(&self, topic: &str, partition: i32, records: Vec<NewRecord>) -> Result<i64> {
        if records.is_empty() {
            return Ok(self.offsets(topic, partition)?.1);
        }
        let placed = self.produce(topic, Some(partition), records)?;
        Ok(placed.iter().map(|&(_, offset)| offset + 1).max().unwrap_or(0))
    }

    /// Appends the records of a batch built with [`RecordBatchBuilder`] to one partition, in
    /// order; returns the offset after the last one. Sources encode records straight into such
    /// batches (no per-record allocation); the embedded broker appends the batch as it is, and
    /// this default implementation decodes it and calls [`Cluster::append`].
    fn append_batch(&self, topic: &str, partition: i32, batch: RecordBatchBuilder) -> Result<i64> {
        if batch.is_empty() {
            return self.append(topic, partition, Vec::new());
        }
        let bytes = batch.finish().freeze();
        let header = BatchHeader::parse(&bytes)?;
        let records = header
            .records(&bytes, usize::MAX)?
            .into_iter()
            .map(|r| NewRecord {
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestamp: Some(r.timestamp),
            })
            .collect();
        self.append(topic, partition, records)
    }

    /// Waits until every record appended to the partition below `end` is durable.
    fn sync(&self, topic: &str, partition: i32, end: i64) -> Result<()>;

    /// The partition's first available offset and its end offset (the offset the next record
    /// will get).
    fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)>;

    /// The first offset whose record timestamp is ≥ `timestamp_ms`, or `None` if there is none.
    fn offset_for_timestamp(&self, topic: &str, partition: i32, timestamp_ms: i64) -> Result<Option<i64>>;

    /// Records from the first offset ≥ `from`, about `max_bytes` of them; empty at the end.
    fn read(&self, topic: &str, partition: i32, from: i64, max_bytes: usize) -> Result<Vec<Record>>;

    /// Durably commits consumer-group positions: `(topic, partition, position)` each. The group
    /// needs no members (a "simple" commit, as Kafka's admin tools do).
    fn commit(&self, group: &str, positions: &[(&str, i32, Committed)]) -> Result<()>;

    /// The committed position of `group` in one partition, if any.
    fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<Committed>>;

    /// Deletes consumer group `group` with every committed position of it, durably (Kafka's
    /// DeleteGroups). A group that does not exist is not an error; one with active members
    /// fails with [`Error::GroupNotEmpty`] and keeps its positions.
    fn delete_group(&self, group: &str) -> Result<()>;

    /// Ensures `topic` exists (creating it with `partitions` and `config` if not; a concurrent
    /// creation is not an error) and returns its partition count.
    fn ensure_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<i32> {
        if let Some(n) = self.partitions(topic)? {
            return Ok(n);
        }
        match self.create_topic(topic, partitions, config) {
            Ok(()) | Err(Error::TopicExists(_)) => {}
            Err(e) => return Err(e),
        }
        // A remote cluster may need a moment before the new topic shows up in metadata.
        for _ in 0..50 {
            if let Some(n) = self.partitions(topic)? {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Invalid(format!(
            "topic '{topic}' was created but does not appear in {}; check the cluster's logs",
            self.describe()
        )))
    }

    /// Reads a partition from `from` to its end as of the call, calling `f` for each record;
    /// returns where the next scan continues (that end, or `from` if it was already past it).
    fn scan(&self, topic: &str, partition: i32, from: i64, f: &mut dyn FnMut(&Record)) -> Result<i64> {
        let (start, end) = self.offsets(topic, partition)?;
        let mut next = from.max(start);
        while next < end {
            let records = self.read(topic, partition, next, 1 << 20)?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for r in records.iter().filter(|r| r.offset < end) {
                f(r);
            }
        }
        Ok(next.max(end).max(from))
    }
}
