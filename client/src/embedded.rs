//! [`EmbeddedCluster`]: the [`Cluster`] operations as function calls on an in-process
//! [`Broker`] — no sockets, no serialization beyond the record batch the log stores.
//!
//! Produced records become one record batch per partition and call; a pre-built batch
//! ([`Cluster::append_batch`]) is appended as it is. Durability is the broker's group commit
//! ([`Cluster::sync`] waits for it); committed offsets go to the broker's durable group-offset
//! store, and deleting a group goes through the same [`Broker::delete_group`] as a Kafka
//! client's DeleteGroups (so a group with members on the broker's protocol server is refused).

use brook_broker::log::config::TOPIC_CONFIGS;
use brook_broker::log::record_batch::{BatchHeader, RecordBatchBuilder};
use brook_broker::{Broker, NewRecord, OffsetAndMetadata, OffsetSpec, Record, TopicConfig};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::offsets::Committed;
use crate::topic::{ConfigEntry, PartitionInfo, TopicInfo};

/// The embedded broker as a [`Cluster`].
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    broker: Broker,
}

impl EmbeddedCluster {
    /// Serves the topics of `broker` (a cheap handle; the broker stays shared).
    pub fn new(broker: Broker) -> Self {
        EmbeddedCluster { broker }
    }

    /// The broker itself, for what only an embedded broker has (closing it, its data directory).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Turns a broker error into the client's, naming a missing topic as such.
    fn error(&self, e: brook_broker::Error) -> Error {
        match e {
            brook_broker::Error::UnknownTopicOrPartition(topic) => {
                Error::UnknownTopic { topic, cluster: self.describe() }
            }
            e => e.into(),
        }
    }

    /// The offset after the batch that contains `from`.
    fn next_batch_offset(&self, topic: &str, partition: i32, from: i64) -> Result<i64> {
        let data = self.broker.fetch(topic, partition, from, 1).map_err(|e| self.error(e))?;
        let mut next = from + 1;
        if let Ok(h) = BatchHeader::parse_prefix(&data.batches) {
            next = next.max(h.next_offset());
        }
        Ok(next)
    }
}

impl From<Broker> for EmbeddedCluster {
    fn from(broker: Broker) -> Self {
        EmbeddedCluster::new(broker)
    }
}

impl Cluster for EmbeddedCluster {
    fn describe(&self) -> String {
        format!("data directory {}", self.broker.config().data_dir.display())
    }

    fn connection(&self) -> crate::Connection {
        crate::Connection::Embedded(self.broker.clone())
    }

    fn list_topics(&self) -> Result<Vec<String>> {
        Ok(self.broker.topic_names())
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.broker.topic(topic).ok().map(|t| t.partition_count()))
    }

    fn describe_topic(&self, topic: &str) -> Result<TopicInfo> {
        let d = self.broker.describe_topic(topic).map_err(|e| self.error(e))?;
        let partitions = d
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                partition: p.partition,
                log_start_offset: p.log_start_offset,
                log_end_offset: p.log_end_offset,
                size_bytes: Some(p.size_bytes),
                segments: Some(p.segments),
            })
            .collect();
        let configs = TOPIC_CONFIGS
            .iter()
            .filter_map(|def| {
                d.config.get(def.name).map(|(value, is_default)| ConfigEntry {
                    name: def.name.to_string(),
                    value,
                    is_default,
                })
            })
            .collect();
        Ok(TopicInfo { name: d.name, partitions, configs })
    }

    fn create_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<()> {
        let config = TopicConfig::from_pairs(config.iter().copied())?;
        Ok(self.broker.create_topic(topic, partitions, config)?)
    }

    fn delete_topic(&self, topic: &str) -> Result<()> {
        self.broker.delete_topic(topic).map_err(|e| self.error(e))
    }

    fn alter_topic_config(&self, topic: &str, changes: &[(&str, Option<&str>)]) -> Result<()> {
        let changes: Vec<(String, Option<String>)> =
            changes.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect();
        self.broker.alter_topic_config(topic, &changes).map_err(|e| self.error(e))
    }

    fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(i32, i64)>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.broker.produce(topic, partition, records).map_err(|e| self.error(e))
    }

    fn append_batch(&self, topic: &str, partition: i32, batch: RecordBatchBuilder) -> Result<i64> {
        if batch.is_empty() {
            return Ok(self.offsets(topic, partition)?.1);
        }
        let info = self.broker.append(topic, partition, batch.finish()).map_err(|e| self.error(e))?;
        Ok(info.last_offset + 1)
    }

    fn sync(&self, topic: &str, partition: i32, end: i64) -> Result<()> {
        let log = self.broker.partition(topic, partition).map_err(|e| self.error(e))?;
        crate::wait::block_on(log.wait_durable(end))?;
        Ok(())
    }

    fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let offset = |spec| {
            self.broker
                .list_offset(topic, partition, spec)
                .map(|o| o.map_or(0, |o| o.0))
                .map_err(|e| self.error(e))
        };
        Ok((offset(OffsetSpec::Earliest)?, offset(OffsetSpec::Latest)?))
    }

    fn offset_for_timestamp(&self, topic: &str, partition: i32, timestamp_ms: i64) -> Result<Option<i64>> {
        let found = self
            .broker
            .list_offset(topic, partition, OffsetSpec::Timestamp(timestamp_ms))
            .map_err(|e| self.error(e))?;
        Ok(found.map(|(offset, _)| offset))
    }

    fn read(&self, topic: &str, partition: i32, from: i64, max_bytes: usize) -> Result<Vec<Record>> {
        let log = self.broker.partition(topic, partition).map_err(|e| self.error(e))?;
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
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    fn commit(&self, group: &str, positions: &[(&str, i32, Committed)]) -> Result<()> {
        let entries = positions
            .iter()
            .map(|(topic, partition, c)| {
                let mut o = OffsetAndMetadata::new(c.offset);
                o.metadata = c.metadata.clone();
                (topic.to_string(), *partition, o)
            })
            .collect();
        crate::wait::block_on(self.broker.commit_offsets(group, entries))?;
        Ok(())
    }

    fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<Committed>> {
        Ok(self
            .broker
            .committed_offset(group, topic, partition)
            .map(|o| Committed { offset: o.offset, metadata: o.metadata }))
    }

    fn delete_group(&self, group: &str) -> Result<()> {
        match crate::wait::block_on(self.broker.delete_group(group)) {
            Ok(()) | Err(brook_broker::Error::GroupIdNotFound(_)) => Ok(()),
            Err(brook_broker::Error::NonEmptyGroup(group)) => {
                Err(Error::GroupNotEmpty { group, cluster: self.describe() })
            }
            Err(e) => Err(e.into()),
        }
    }
}
