//! Durable consumer-group offsets, kept the way Kafka keeps them: in an internal compacted topic.
//!
//! Every commit appends one record per partition to `__consumer_offsets` (key: group, topic,
//! partition; value: offset, leader epoch, metadata, commit time) and waits for the flusher to
//! make it durable before answering. On startup the topic is replayed into an in-memory map.
//! Compaction keeps the topic's size proportional to the number of committed partitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::{NewRecord, PartitionLog, RecordBatchBuilder};
use crate::util::now_ms;

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A committed position of a group in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetAndMetadata {
    /// The next offset the group will read.
    pub offset: i64,
    /// Leader epoch the client saw (-1 if unknown).
    pub leader_epoch: i32,
    /// Opaque client metadata, returned as-is by OffsetFetch.
    pub metadata: String,
    /// When the commit happened (ms).
    pub commit_timestamp: i64,
}

impl OffsetAndMetadata {
    /// An offset with no metadata, committed now.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: -1, metadata: String::new(), commit_timestamp: now_ms() }
    }
}

#[derive(Serialize, Deserialize)]
struct OffsetKey {
    group: String,
    topic: String,
    partition: i32,
}

type GroupMap = HashMap<String, BTreeMap<(String, i32), OffsetAndMetadata>>;

/// The committed offsets of all groups.
pub struct GroupOffsetStore {
    log: Arc<PartitionLog>,
    offsets: RwLock<GroupMap>,
    append_lock: Mutex<()>,
}

impl GroupOffsetStore {
    /// Replays the offsets topic's partition into memory.
    pub fn open(log: Arc<PartitionLog>) -> Result<GroupOffsetStore> {
        let mut offsets: GroupMap = HashMap::new();
        let mut next = log.list_offset(crate::log::OffsetSpec::Earliest)?.map_or(0, |o| o.0);
        loop {
            let (records, hw) = log.read_records(next, 4 << 20)?;
            if records.is_empty() {
                break;
            }
            for r in records {
                next = r.offset + 1;
                let Some(key) = r.key.as_deref().and_then(|k| serde_json::from_slice::<OffsetKey>(k).ok())
                else {
                    continue;
                };
                let group = offsets.entry(key.group).or_default();
                match r.value.as_deref().and_then(|v| serde_json::from_slice(v).ok()) {
                    Some(v) => {
                        group.insert((key.topic, key.partition), v);
                    }
                    None => {
                        group.remove(&(key.topic, key.partition));
                    }
                }
            }
            if next >= hw {
                break;
            }
        }
        offsets.retain(|_, g| !g.is_empty());
        Ok(GroupOffsetStore { log, offsets: RwLock::new(offsets), append_lock: Mutex::new(()) })
    }

    /// Durably commits offsets for a group. Returns once they are fsynced.
    pub async fn commit(&self, group: &str, entries: &[(String, i32, OffsetAndMetadata)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut builder = RecordBatchBuilder::new(now_ms());
        for (topic, partition, om) in entries {
            builder.push(&NewRecord::new(Some(encode_key(group, topic, *partition)), Some(encode(om)?)));
        }
        let end = {
            let _order = self.append_lock.lock();
            let info = self.log.append(builder.finish())?;
            let mut map = self.offsets.write();
            let g = map.entry(group.to_string()).or_default();
            for (topic, partition, om) in entries {
                g.insert((topic.clone(), *partition), om.clone());
            }
            info.last_offset + 1
        };
        self.log.wait_durable(end).await
    }

    /// Removes a group's offsets (for a deleted group or topic).
    pub async fn delete(&self, group: &str, partitions: &[(String, i32)]) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let mut builder = RecordBatchBuilder::new(now_ms());
        for (topic, partition) in partitions {
            builder.push(&NewRecord::new(Some(encode_key(group, topic, *partition)), None::<Bytes>));
        }
        let end = {
            let _order = self.append_lock.lock();
            let info = self.log.append(builder.finish())?;
            let mut map = self.offsets.write();
            if let Some(g) = map.get_mut(group) {
                for (topic, partition) in partitions {
                    g.remove(&(topic.clone(), *partition));
                }
                if g.is_empty() {
                    map.remove(group);
                }
            }
            info.last_offset + 1
        };
        self.log.wait_durable(end).await
    }

    /// The committed offset of a group in one partition.
    pub fn fetch(&self, group: &str, topic: &str, partition: i32) -> Option<OffsetAndMetadata> {
        self.offsets.read().get(group)?.get(&(topic.to_string(), partition)).cloned()
    }

    /// All committed offsets of a group.
    pub fn fetch_all(&self, group: &str) -> Vec<(String, i32, OffsetAndMetadata)> {
        self.offsets
            .read()
            .get(group)
            .map(|g| g.iter().map(|((t, p), o)| (t.clone(), *p, o.clone())).collect())
            .unwrap_or_default()
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<_> = self.offsets.read().keys().cloned().collect();
        groups.sort();
        groups
    }
}

fn encode_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    // Serialising a struct of strings cannot fail.
    serde_json::to_vec(&OffsetKey { group: group.into(), topic: topic.into(), partition }).unwrap_or_default()
}

fn encode(om: &OffsetAndMetadata) -> Result<Vec<u8>> {
    serde_json::to_vec(om).map_err(|e| Error::InvalidConfig(format!("cannot encode offset: {e}")))
}
