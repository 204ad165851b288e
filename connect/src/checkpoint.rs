//! Exactly-once positions: how a source resumes after a crash — kill -9 included — with no
//! record lost and none written twice.
//!
//! # Design
//!
//! Two facts do the work:
//!
//! 1. **Every record carries its input position** in its headers (see [`crate::position`]):
//!    the connector, the file (path and inode) and the record's place in it
//!    (`line end offset`, `index`).
//! 2. **Each partition is a prefix.** A source appends a file's records to each partition in
//!    input order, and after a crash a partition holds a prefix of what was appended to it
//!    ([`brook_client::cluster`] contract). So, per partition and per file, "has this record been written?"
//!    is answered by one number: the highest position of that file found in the partition.
//!
//! Periodically (`commit_interval`) the source makes everything it appended durable and then
//! appends a [`Checkpoint`] to the compacted topic `_brook_connect_offsets` (key: connector
//! name): each file's read offset, the end offset of every target partition *at that moment*,
//! and the counters.
//!
//! ```text
//!  partition p:  ... records before the checkpoint ... | records after it (the window) ...
//!                                                      ^ checkpoint.ends[p]
//! ```
//!
//! **Recovery** loads the last checkpoint, scans each target partition (data topic and
//! dead-letter topic) from the checkpoint's end offset to its current end, and keeps, per
//! partition and file, the highest position among the connector's records there
//! ([`Recovery`]). It then resumes reading each file at the checkpoint's offset: a record
//! whose position is at or below the recorded high mark of its partition was written before
//! the crash and is skipped (but counted, so counters match a run without the crash); every
//! other record is written. Since the source re-derives exactly the records of the original
//! run from the same input, the topic ends up as if the crash never happened.
//!
//! State that decides *which* records a line produces — the per-key state of a Debezium
//! source ([`KeyStates`]) — is rebuilt from the records before the checkpoint's end offsets
//! only, so the replay makes the same decisions as the original run.
//!
//! Durability order: data is made durable before the checkpoint that covers it is written, so
//! a durable checkpoint never points past data that could be lost. A lost checkpoint (or
//! none) only lengthens the window the next recovery scans.
//!
//! Limits, stated plainly: the scan window is bounded by `commit_interval` of input; the
//! per-key state of a Debezium source is rebuilt by reading its topic up to the checkpoint
//! (proportional to the topic's size after compaction); files must be append-only (a file that
//! shrinks is read again from the start and its records are written again).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use brook_broker::NewRecord;

use crate::config::ConnectorKind;
use crate::debezium::SourcePosition;
use crate::debezium::event::{Line, parse_line};
use crate::debezium::keys::KeyStates;
use crate::error::{Error, Result};
use crate::metrics::MetricsSnapshot;
use crate::position::{CDC_POSITION_HEADER, LinePosition, SOURCE_HEADER, SourceHeader, header, written_by};
use brook_client::Cluster;

/// The compacted topic holding every connector's last checkpoint.
pub const OFFSETS_TOPIC: &str = "_brook_connect_offsets";

/// Configuration of the internal compacted topics.
pub(crate) const COMPACTED: &[(&str, &str)] = &[("cleanup.policy", "compact"), ("segment.bytes", "8388608")];

/// Where a source stood in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Inode of the file (a different inode at the same path is a new file).
    pub inode: u64,
    /// Offset of the first unread byte (always a record boundary).
    pub offset: u64,
    /// Records (lines) read so far, for line numbers in dead-letter records.
    pub line: u64,
    /// The last record had no terminator yet.
    pub line_open: bool,
}

/// A connector's committed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checkpoint {
    /// Whether the connector is a source or a sink.
    pub kind: Option<ConnectorKind>,
    /// The topic it writes (sources) or reads (sinks).
    pub topic: Option<String>,
    /// Sources: position per input file (by path).
    pub files: BTreeMap<String, FileCheckpoint>,
    /// Sources: end offset of every target partition when the checkpoint was taken.
    pub ends: BTreeMap<String, Vec<i64>>,
    /// Sinks: next offset to read per partition.
    pub positions: BTreeMap<i32, i64>,
    /// Counters.
    pub metrics: MetricsSnapshot,
    /// When it was committed (ms since the epoch).
    pub committed_ms: i64,
}

/// Reads and writes checkpoints in [`OFFSETS_TOPIC`].
pub struct OffsetStore;

impl OffsetStore {
    /// Creates the offsets topic if needed.
    pub fn ensure(cluster: &dyn Cluster) -> Result<()> {
        cluster.ensure_topic(OFFSETS_TOPIC, 1, COMPACTED)?;
        Ok(())
    }

    /// The last checkpoint of every connector.
    pub fn load_all(cluster: &dyn Cluster) -> Result<BTreeMap<String, Checkpoint>> {
        let mut latest: BTreeMap<String, Option<Bytes>> = BTreeMap::new();
        if cluster.partitions(OFFSETS_TOPIC)?.is_none() {
            return Ok(BTreeMap::new());
        }
        cluster.scan(OFFSETS_TOPIC, 0, 0, &mut |r| {
            if let Some(k) = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) {
                latest.insert(k.to_string(), r.value.clone());
            }
        })?;
        let mut out = BTreeMap::new();
        for (name, value) in latest {
            let Some(v) = value else { continue };
            let cp = serde_json::from_slice(&v).map_err(|e| Error::CorruptState {
                connector: name.clone(),
                reason: format!("checkpoint: {e}"),
            })?;
            out.insert(name, cp);
        }
        Ok(out)
    }

    /// The last checkpoint of `connector`.
    pub fn load(cluster: &dyn Cluster, connector: &str) -> Result<Option<Checkpoint>> {
        Ok(Self::load_all(cluster)?.remove(connector))
    }

    /// Appends a checkpoint and waits until it is durable.
    pub fn save(cluster: &dyn Cluster, connector: &str, cp: &Checkpoint) -> Result<()> {
        let value = serde_json::to_vec(cp).map_err(|e| Error::CorruptState {
            connector: connector.to_string(),
            reason: format!("cannot encode checkpoint: {e}"),
        })?;
        let end = cluster.append(
            OFFSETS_TOPIC,
            0,
            vec![NewRecord::new(Some(connector.to_string()), Some(value))],
        )?;
        Ok(cluster.sync(OFFSETS_TOPIC, 0, end)?)
    }

    /// Forgets a connector's position (a tombstone).
    pub fn delete(cluster: &dyn Cluster, connector: &str) -> Result<()> {
        if cluster.partitions(OFFSETS_TOPIC)?.is_none() {
            return Ok(());
        }
        let end = cluster.append(
            OFFSETS_TOPIC,
            0,
            vec![NewRecord::new(Some(connector.to_string()), None::<Bytes>)],
        )?;
        Ok(cluster.sync(OFFSETS_TOPIC, 0, end)?)
    }
}

/// Per partition and file, the highest position written after the last checkpoint.
#[derive(Debug, Default)]
pub struct Recovery {
    written: HashMap<(String, i32), HashMap<(String, u64), LinePosition>>,
}

impl Recovery {
    /// Scans partitions `ends[p]..end` of `topic` for records of `connector`. With `keys`, also
    /// rebuilds the per-key state from the records before `ends[p]`.
    pub fn scan_topic(
        &mut self,
        cluster: &dyn Cluster,
        connector: &str,
        topic: &str,
        ends: &[i64],
        mut keys: Option<&mut KeyStates>,
    ) -> Result<()> {
        let partitions = cluster.partitions(topic)?.unwrap_or(0);
        for p in 0..partitions {
            let window_start = ends.get(p as usize).copied().unwrap_or(0);
            let from = if keys.is_some() { 0 } else { window_start };
            let mut written: HashMap<(String, u64), LinePosition> = HashMap::new();
            cluster.scan(topic, p, from, &mut |r| {
                if !written_by(&r.headers, connector) {
                    return;
                }
                if r.offset < window_start {
                    match (keys.as_deref_mut(), r.key.as_ref(), r.value.as_ref()) {
                        (Some(keys), Some(key), _) => {
                            let position = header(&r.headers, CDC_POSITION_HEADER)
                                .and_then(|v| std::str::from_utf8(v).ok())
                                .and_then(SourcePosition::decode);
                            keys.apply(key, position.as_ref(), r.value.is_some());
                        }
                        (Some(keys), None, Some(value)) => {
                            // A change event written without a key: remember its identity.
                            if let Ok(Line::Change(c)) = parse_line(value)
                                && let Some(identity) = c.identity()
                            {
                                keys.apply_key_less(identity);
                            }
                        }
                        _ => {}
                    }
                    return;
                }
                if let Some(h) = header(&r.headers, SOURCE_HEADER).and_then(SourceHeader::decode) {
                    let slot = written.entry((h.path, h.inode)).or_insert(h.position);
                    *slot = (*slot).max(h.position);
                }
            })?;
            if !written.is_empty() {
                self.written.insert((topic.to_string(), p), written);
            }
        }
        Ok(())
    }

    /// Whether the record at `position` of file `(path, inode)` is already in `topic`-`partition`.
    pub fn already_written(
        &self,
        topic: &str,
        partition: i32,
        path: &str,
        inode: u64,
        position: LinePosition,
    ) -> bool {
        if self.written.is_empty() {
            return false;
        }
        self.written
            .get(&(topic.to_string(), partition))
            .and_then(|files| files.get(&(path.to_string(), inode)))
            .is_some_and(|high| position <= *high)
    }

    /// Forgets the marks of files that were read past them, or replaced (`files`: inode and
    /// read offset per path); returns whether no mark is left.
    pub fn passed(&mut self, files: &HashMap<String, (u64, u64)>) -> bool {
        self.written.retain(|_, marks| {
            marks.retain(|(path, inode), high| match files.get(path) {
                None => true,
                Some(&(current, read)) => current == *inode && read < high.offset,
            });
            !marks.is_empty()
        });
        self.written.is_empty()
    }

    /// Forgets the marks of one file (it was replaced or shrank: its old records are history).
    pub fn forget_path(&mut self, path: &str) {
        self.written.retain(|_, marks| {
            marks.retain(|(p, _), _| p != path);
            !marks.is_empty()
        });
    }

    /// Keeps only the marks of files whose path is in `present`.
    pub fn retain_files(&mut self, present: &std::collections::BTreeSet<String>) {
        self.written.retain(|_, files| {
            files.retain(|(path, _), _| present.contains(path));
            !files.is_empty()
        });
    }

    /// Whether nothing was found after the checkpoint.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }
}
