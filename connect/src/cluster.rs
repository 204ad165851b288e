//! [`Cluster`]: the few log operations a connector needs, implemented by the in-process
//! [`Broker`] and by a remote Kafka-protocol cluster ([`crate::kafka::KafkaCluster`]).
//!
//! Connectors choose partitions themselves (Kafka's murmur2 on the key, see
//! [`brook_broker::partitioner::partition_for_key`]) and append to one partition at a time, so
//! that the exactly-once recovery in [`crate::checkpoint`] can reason per partition.
//!
//! Contract for implementers:
//! * [`Cluster::append`] and [`Cluster::append_batch`] write the records to the partition in
//!   order. After a crash the partition holds a *prefix* of everything appended to it (never a
//!   gap, never a reordering). The embedded broker writes each call as one atomic batch; an
//!   idempotent Kafka producer gives the prefix property.
//! * [`Cluster::sync`] returns once every record appended so far to that partition is durable.
//! * [`Cluster::read`] returns records in offset order starting at the first offset ≥ `from`
//!   (compaction may leave gaps), and an empty vector at the end of the partition.

use std::time::Duration;

use brook_broker::log::record_batch::{BatchHeader, RecordBatchBuilder};
use brook_broker::{Broker, NewRecord, OffsetAndMetadata, OffsetSpec, Record, TopicConfig};

use crate::error::{Error, Result};

/// The log operations connectors use.
pub trait Cluster: Send + Sync + 'static {
    /// A short description for messages ("data directory /var/brook", "cluster at host:9092").
    fn describe(&self) -> String;

    /// The number of partitions of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<i32>>;

    /// Creates `topic` unless it exists (a concurrent creation is not an error).
    fn create_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<()>;

    /// Appends records to one partition, in order; returns the offset after the last one.
    fn append(&self, topic: &str, partition: i32, records: Vec<NewRecord>) -> Result<i64>;

    /// Appends the records of a batch built with [`RecordBatchBuilder`] to one partition, in
    /// order; returns the offset after the last one. Sources encode records straight into
    /// such batches (no per-record allocation); the embedded broker appends the batch as it is,
    /// and the default implementation decodes it and calls [`Cluster::append`].
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

    /// The partition's first available offset and its end offset.
    fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)>;

    /// Records from the first offset ≥ `from`, about `max_bytes` of them; empty at the end.
    fn read(&self, topic: &str, partition: i32, from: i64, max_bytes: usize) -> Result<Vec<Record>>;

    /// Durably commits a consumer-group position (the next offset to read).
    fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) -> Result<()>;

    /// The committed position of a group, if any.
    fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>>;

    /// Ensures `topic` exists with at least one partition and returns its partition count.
    fn ensure_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<i32> {
        if let Some(n) = self.partitions(topic)? {
            return Ok(n);
        }
        self.create_topic(topic, partitions, config)?;
        // A remote cluster may need a moment before the new topic shows up in metadata.
        for _ in 0..50 {
            if let Some(n) = self.partitions(topic)? {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Config(format!("topic '{topic}' was created but does not appear in {}", self.describe())))
    }

    /// Reads a whole partition from `from` to its current end, calling `f` for each record.
    fn scan(&self, topic: &str, partition: i32, from: i64, f: &mut dyn FnMut(&Record)) -> Result<()> {
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
        Ok(())
    }
}

impl Cluster for Broker {
    fn describe(&self) -> String {
        format!("data directory {}", self.config().data_dir.display())
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.topic(topic).ok().map(|t| t.partition_count()))
    }

    fn create_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<()> {
        let config = TopicConfig::from_pairs(config.iter().copied())?;
        match Broker::create_topic(self, topic, partitions, config) {
            Ok(()) | Err(brook_broker::Error::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn append(&self, topic: &str, partition: i32, records: Vec<NewRecord>) -> Result<i64> {
        if records.is_empty() {
            return Ok(self.offsets(topic, partition)?.1);
        }
        let placed = self.produce(topic, Some(partition), records)?;
        Ok(placed.last().map_or(0, |p| p.1 + 1))
    }

    fn append_batch(&self, topic: &str, partition: i32, batch: RecordBatchBuilder) -> Result<i64> {
        if batch.is_empty() {
            return Ok(self.offsets(topic, partition)?.1);
        }
        let info = Broker::append(self, topic, partition, batch.finish())?;
        Ok(info.last_offset + 1)
    }

    fn sync(&self, topic: &str, partition: i32, end: i64) -> Result<()> {
        let log = self.partition(topic, partition)?;
        futures::executor::block_on(log.wait_durable(end))?;
        Ok(())
    }

    fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let start = self.list_offset(topic, partition, OffsetSpec::Earliest)?.map_or(0, |o| o.0);
        let end = self.list_offset(topic, partition, OffsetSpec::Latest)?.map_or(0, |o| o.0);
        Ok((start, end))
    }

    fn read(&self, topic: &str, partition: i32, from: i64, max_bytes: usize) -> Result<Vec<Record>> {
        let log = self.partition(topic, partition)?;
        let mut next = from;
        loop {
            match log.read_records(next, max_bytes) {
                Ok((records, end)) => {
                    // A fetch can return only batches whose records are all below `from`
                    // (compaction keeps batch boundaries); move on until records appear.
                    if records.is_empty() && next < end {
                        next = self.next_batch_offset(topic, partition, next)?;
                        if next >= end {
                            return Ok(Vec::new());
                        }
                        continue;
                    }
                    return Ok(records);
                }
                Err(brook_broker::Error::OffsetOutOfRange { log_start, .. }) if next < log_start => {
                    next = log_start;
                }
                // Past the end: nothing there (yet).
                Err(brook_broker::Error::OffsetOutOfRange { log_end, .. }) if next >= log_end => {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) -> Result<()> {
        futures::executor::block_on(
            self.commit_offsets(group, vec![(topic.to_string(), partition, OffsetAndMetadata::new(offset))]),
        )?;
        Ok(())
    }

    fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>> {
        Ok(self.committed_offset(group, topic, partition).map(|o| o.offset))
    }
}

/// Helpers for the embedded broker's `read`.
trait BatchWalk {
    fn next_batch_offset(&self, topic: &str, partition: i32, from: i64) -> Result<i64>;
}

impl BatchWalk for Broker {
    /// The offset after the batch that contains `from`.
    fn next_batch_offset(&self, topic: &str, partition: i32, from: i64) -> Result<i64> {
        let data = self.fetch(topic, partition, from, 1)?;
        let mut next = from + 1;
        if let Ok(h) = brook_broker::log::record_batch::BatchHeader::parse_prefix(&data.batches) {
            next = next.max(h.next_offset());
        }
        Ok(next)
    }
}
