//! Durable consumer-group offsets, kept the way Kafka keeps them: in an internal compacted topic.
//!
//! Every commit appends one record per partition to `__consumer_offsets` (key: group, topic,
//! partition; value: offset, leader epoch, metadata, commit time) and waits for the flusher to
//! make it durable before answering. On startup the topic is replayed into an in-memory map.
//! Compaction keeps the topic's size proportional to the number of committed partitions.
//!
//! Offsets committed inside a transaction (TxnOffsetCommit) are appended as a transactional
//! batch of the producer and kept *pending* per producer id: OffsetFetch does not return them.
//! The transaction's marker, which the coordinator writes to this topic too, makes them
//! committed (COMMIT) or drops them (ABORT) — on the live path through
//! `GroupOffsetStore::complete_transaction`, on replay by reading the marker itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::segment;
use crate::log::{EndTxnMarker, NewRecord, PartitionLog, RecordBatchBuilder};
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

/// One offset waiting for its transaction: group, topic, partition, offset.
type PendingOffset = (String, String, i32, OffsetAndMetadata);

/// The committed offsets of all groups.
pub struct GroupOffsetStore {
    log: Arc<PartitionLog>,
    offsets: RwLock<GroupMap>,
    /// Offsets of open transactions, by producer id, in commit order.
    pending: Mutex<HashMap<i64, Vec<PendingOffset>>>,
    append_lock: Mutex<()>,
}

fn apply(
    offsets: &mut GroupMap,
    group: String,
    topic: String,
    partition: i32,
    value: Option<OffsetAndMetadata>,
) {
    let g = offsets.entry(group).or_default();
    match value {
        Some(v) => {
            g.insert((topic, partition), v);
        }
        None => {
            g.remove(&(topic, partition));
        }
    }
}

impl GroupOffsetStore {
    /// Replays the offsets topic's partition into memory: plain commits apply at once,
    /// transactional ones wait for their marker.
    pub fn open(log: Arc<PartitionLog>) -> Result<GroupOffsetStore> {
        let mut offsets: GroupMap = HashMap::new();
        let mut pending: HashMap<i64, Vec<PendingOffset>> = HashMap::new();
        let mut next = log.list_offset(crate::log::OffsetSpec::Earliest)?.map_or(0, |o| o.0);
        loop {
            let from = next;
            let data = log.fetch(from, 4 << 20)?;
            if data.batches.is_empty() {
                break;
            }
            for item in segment::batches(&data.batches) {
                let (header, bytes) = item?;
                next = next.max(header.next_offset());
                if header.is_control() {
                    if let Some(marker) = EndTxnMarker::decode(&header, &bytes)? {
                        for (group, topic, partition, om) in
                            pending.remove(&header.producer_id).unwrap_or_default()
                        {
                            if marker.commit {
                                apply(&mut offsets, group, topic, partition, Some(om));
                            }
                        }
                    }
                    continue;
                }
                for r in header.records(&bytes, crate::log::partition::MAX_UNCOMPRESSED_BATCH)? {
                    if r.offset < from {
                        continue;
                    }
                    let Some(key) =
                        r.key.as_deref().and_then(|k| serde_json::from_slice::<OffsetKey>(k).ok())
                    else {
                        continue;
                    };
                    let value = r.value.as_deref().and_then(|v| serde_json::from_slice(v).ok());
                    match (header.is_transactional(), value) {
                        (true, Some(om)) => pending.entry(header.producer_id).or_default().push((
                            key.group,
                            key.topic,
                            key.partition,
                            om,
                        )),
                        (true, None) => {}
                        (false, value) => apply(&mut offsets, key.group, key.topic, key.partition, value),
                    }
                }
            }
            if next >= data.high_watermark {
                break;
            }
        }
        offsets.retain(|_, g| !g.is_empty());
        Ok(GroupOffsetStore {
            log,
            offsets: RwLock::new(offsets),
            pending: Mutex::new(pending),
            append_lock: Mutex::new(()),
        })
    }

    /// The log of `__consumer_offsets`.
    pub(crate) fn log(&self) -> &Arc<PartitionLog> {
        &self.log
    }

    /// Appends offsets committed inside a transaction of `producer_id` (TxnOffsetCommit) as a
    /// transactional batch; they stay pending until the transaction's marker. Returns the
    /// offset the caller must wait to be durable before answering.
    pub(crate) fn append_transactional(
        &self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        entries: &[(String, i32, OffsetAndMetadata)],
    ) -> Result<i64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut builder =
            RecordBatchBuilder::new(now_ms()).with_producer(producer_id, producer_epoch, -1).transactional();
        for (topic, partition, om) in entries {
            builder.push(&NewRecord::new(Some(encode_key(group, topic, *partition)), Some(encode(om)?)));
        }
        let _order = self.append_lock.lock();
        let info = self.log.append(builder.finish())?;
        let mut pending = self.pending.lock();
        let list = pending.entry(producer_id).or_default();
        for (topic, partition, om) in entries {
            list.push((group.to_string(), topic.clone(), *partition, om.clone()));
        }
        Ok(info.last_offset + 1)
    }

    /// Resolves the pending offsets of `producer_id` once its marker is in the log: a commit
    /// makes them the groups' committed offsets, an abort drops them.
    pub(crate) fn complete_transaction(&self, producer_id: i64, commit: bool) {
        let Some(list) = self.pending.lock().remove(&producer_id) else { return };
        if commit {
            let mut offsets = self.offsets.write();
            for (group, topic, partition, om) in list {
                apply(&mut offsets, group, topic, partition, Some(om));
            }
        }
    }

    /// Whether an open transaction holds an offset of `group` for this partition (OffsetFetch
    /// with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending.lock().values().flatten().any(|(g, t, p, _)| g == group && t == topic && *p == partition)
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

    /// Removes every committed offset of `group`, durably; returns whether it had any.
    pub async fn delete_group(&self, group: &str) -> Result<bool> {
        let partitions: Vec<(String, i32)> =
            self.fetch_all(group).into_iter().map(|(t, p, _)| (t, p)).collect();
        self.delete(group, &partitions).await?;
        Ok(!partitions.is_empty())
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
