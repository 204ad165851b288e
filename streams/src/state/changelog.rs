//! Changelogs: every state store is backed by a compacted topic it can be rebuilt from.
//!
//! ```text
//!  operator ─► CachedStore ─► LoggedStore ─► backend (RocksDB / memory)
//!                                 │ each put / delete (a range delete: one tombstone per key)
//!                                 ▼
//!                          ChangeLog (the task's buffer) ─► the stream thread writes it to
//!                          <application.id>-<store>-changelog, partition = the task's,
//!                          with the outputs, before the task's input offsets are committed
//! ```
//!
//! A task opening a store restores it first ([`restore`]): from the offset after the one its
//! [`OffsetCheckpoint`] says the local store already holds, or — without a checkpoint entry
//! (new instance, wiped or moved state, memory backend) — from the changelog's start into an
//! emptied store. The checkpoint file (`.checkpoint` in the task's state directory, Kafka
//! Streams' format) is rewritten after each commit with the last changelog offset the flushed
//! store reflects, so a restart after a crash restores only the tail.
//!
//! The topic is named as Kafka Streams names it ([`changelog_topic`]) and keyed by the store's
//! own keys, so the latest record per key is the store's content and compaction keeps it small.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use super::KeyValueStore;
use crate::error::{Error, Result};
use crate::record::OutputRecord;

/// The changelog topic of store `store` of application `application_id`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// The topic configuration of a changelog: compacted, so it keeps the latest value per key.
pub fn changelog_config() -> Vec<(String, String)> {
    vec![("cleanup.policy".to_string(), "compact".to_string())]
}

/// One change read back from a changelog: a key and its new value (`None`: deleted).
pub type Change = (Bytes, Option<Bytes>);

/// Reads a changelog partition back, for restoring a store.
pub trait ChangelogReader {
    /// Calls `apply` with the changes of `topic`-`partition` from offset `from` (or the log's
    /// start, if that is later) up to its end as it was when reading started, in batches and
    /// in offset order. Returns the offset after the last record read (`from` if none). A
    /// `from` past the partition's end is [`Error::ChangelogBehindCheckpoint`].
    fn read_changelog(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        apply: &mut dyn FnMut(Vec<Change>) -> Result<()>,
    ) -> Result<i64>;
}

/// The changes a task's stores made since the stream thread last took them.
pub struct ChangeLog {
    partition: i32,
    /// The changelog topics of the stores logging here.
    topics: RefCell<Vec<String>>,
    records: RefCell<Vec<OutputRecord>>,
    /// While a store restores, its writes come from the changelog and are not logged again.
    muted: Cell<bool>,
}

impl ChangeLog {
    /// A buffer for the changes of the task of `partition`.
    pub fn new(partition: i32) -> Rc<Self> {
        Rc::new(ChangeLog {
            partition,
            topics: RefCell::default(),
            records: RefCell::new(Vec::new()),
            muted: Cell::new(false),
        })
    }

    /// Takes the changes logged so far, in the order they were made.
    pub fn take(&self) -> Vec<OutputRecord> {
        std::mem::take(&mut *self.records.borrow_mut())
    }

    fn log(&self, topic: &str, key: &[u8], value: Option<&[u8]>) {
        if self.muted.get() {
            return;
        }
        self.records.borrow_mut().push(OutputRecord {
            topic: topic.to_string(),
            partition: Some(self.partition),
            key: Some(Bytes::copy_from_slice(key)),
            value: value.map(Bytes::copy_from_slice),
            timestamp: 0,
            headers: Vec::new(),
        });
    }
}

/// A store whose writes are also logged to its changelog.
pub struct LoggedStore {
    inner: Box<dyn KeyValueStore>,
    topic: String,
    log: Rc<ChangeLog>,
}

impl LoggedStore {
    /// Logs the writes to `inner` as records of `topic` into `log`.
    pub fn new(inner: Box<dyn KeyValueStore>, topic: String, log: Rc<ChangeLog>) -> Self {
        log.topics.borrow_mut().push(topic.clone());
        LoggedStore { inner, topic, log }
    }
}

impl KeyValueStore for LoggedStore {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(key)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.log.log(&self.topic, key, Some(value));
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.log.log(&self.topic, key, None);
        self.inner.delete(key)
    }
    fn scan(
        &mut self,
        from: &[u8],
        to: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.inner.scan(from, to, f)
    }
    /// A changelog has no range delete: every key in the range gets a tombstone.
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        if !self.log.muted.get() {
            let (topic, log) = (&self.topic, &self.log);
            self.inner.scan(from, Some(to), &mut |k, _| {
                log.log(topic, k, None);
                true
            })?;
        }
        self.inner.delete_range(from, to)
    }
    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }
    fn seal(&mut self) -> Result<()> {
        self.inner.seal()
    }
    fn approximate_len(&mut self) -> Result<u64> {
        self.inner.approximate_len()
    }
    fn write_batch(&mut self, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<()> {
        for (k, v) in &entries {
            self.log.log(&self.topic, k, v.as_deref());
        }
        self.inner.write_batch(entries)
    }
}

/// A running task's changelogs: the buffer its stores log into, and what its local stores
/// are known to hold (written to its checkpoint file after each commit).
pub struct TaskChangelog {
    /// The task's change buffer.
    pub log: Rc<ChangeLog>,
    /// The task's state directory (`None`: memory state, never checkpointed).
    pub dir: Option<PathBuf>,
    /// The last changelog offset each store holds once flushed.
    pub held: OffsetCheckpoint,
}

impl TaskChangelog {
    /// After restoring: the stores hold their changelogs up to where restoring ended.
    pub fn new(log: Rc<ChangeLog>, dir: Option<PathBuf>, restored: &[Restored]) -> Self {
        let mut held = OffsetCheckpoint::default();
        for r in restored.iter().filter(|r| r.end > 0) {
            held.offsets.insert((r.topic.clone(), log.partition), r.end - 1);
        }
        TaskChangelog { log, dir, held }
    }

    /// After a commit made changelog records durable up to `ends` (offset after the last, per
    /// partition, any topic) and the flushed stores hold them: records the task's own and
    /// rewrites its checkpoint file.
    pub fn committed(&mut self, ends: &std::collections::HashMap<(String, i32), i64>) -> Result<()> {
        let mut changed = false;
        for (key, &end) in ends {
            if key.1 == self.log.partition && self.owns(&key.0) {
                let held = self.held.offsets.entry(key.clone()).or_insert(-1);
                if end - 1 > *held {
                    *held = end - 1;
                    changed = true;
                }
            }
        }
        match &self.dir {
            Some(dir) if changed => self.held.write(dir),
            _ => Ok(()),
        }
    }

    fn owns(&self, topic: &str) -> bool {
        self.log.topics.borrow().iter().any(|t| t == topic)
    }
}

/// What restoring one store did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The store.
    pub store: String,
    /// Its changelog topic.
    pub topic: String,
    /// Changelog records applied.
    pub records: u64,
    /// Key and value bytes applied.
    pub bytes: u64,
    /// The offset after the last record applied: the store holds the changelog up to here.
    pub end: i64,
    /// Wall-clock time it took, in ms.
    pub millis: u64,
}

/// Brings `store` (a [`LoggedStore`] writing into `log`, or any store below it) up to date
/// with its changelog `topic`-`partition`: from after `checkpointed` (the last offset the
/// store is known to hold), or, without one, from the start into the emptied store.
pub fn restore(
    store: &mut dyn KeyValueStore,
    log: &ChangeLog,
    reader: &mut dyn ChangelogReader,
    topic: &str,
    partition: i32,
    checkpointed: Option<i64>,
) -> Result<Restored> {
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    // What restoring writes comes from the changelog: it is not logged again.
    log.muted.set(true);
    let _unmute = Unmute(log);
    let mut read_from = |store: &mut dyn KeyValueStore, from: i64| {
        reader.read_changelog(topic, partition, from, &mut |changes| {
            records += changes.len() as u64;
            bytes += changes
                .iter()
                .map(|(k, v)| (k.len() + v.as_ref().map_or(0, |v| v.len())) as u64)
                .sum::<u64>();
            store.write_batch(changes)
        })
    };
    let end = match checkpointed {
        Some(offset) => match read_from(store, offset + 1) {
            Err(e @ Error::ChangelogBehindCheckpoint { .. }) => {
                tracing::warn!(error = %e, "rebuilding the store from its changelog");
                clear(store)?;
                read_from(store, 0)?
            }
            other => other?,
        },
        None => {
            clear(store)?;
            read_from(store, 0)?
        }
    };
    Ok(Restored {
        store: store.name().to_string(),
        topic: topic.to_string(),
        records,
        bytes,
        end,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Turns logging back on when restoring ends, however it ends.
struct Unmute<'a>(&'a ChangeLog);

impl Drop for Unmute<'_> {
    fn drop(&mut self) {
        self.0.muted.set(false);
    }
}

/// Removes every key of `store` (a store rebuilt from scratch must hold nothing else).
fn clear(store: &mut dyn KeyValueStore) -> Result<()> {
    let mut keys = Vec::new();
    store.scan(&[], None, &mut |k, _| {
        keys.push((Bytes::copy_from_slice(k), None));
        true
    })?;
    if !keys.is_empty() {
        store.write_batch(keys)?;
    }
    Ok(())
}

/// The last changelog offset each store of a task holds on disk, in Kafka Streams'
/// `.checkpoint` format: a version line (0), a count line, then `topic partition offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCheckpoint {
    /// `(topic, partition)` → the last offset applied.
    pub offsets: BTreeMap<(String, i32), i64>,
}

impl OffsetCheckpoint {
    /// The file name inside a task's state directory.
    pub const FILE: &'static str = ".checkpoint";

    /// Reads the checkpoint in `dir`. A missing or unreadable file is an empty checkpoint:
    /// the stores are then rebuilt from their changelogs, which is always correct.
    pub fn read(dir: &Path) -> Self {
        let path = dir.join(Self::FILE);
        let Ok(text) = std::fs::read_to_string(&path) else { return Self::default() };
        match Self::parse(&text) {
            Some(c) => c,
            None => {
                tracing::warn!(path = %path.display(), "unreadable state checkpoint; stores restore from their changelogs");
                Self::default()
            }
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut offsets = BTreeMap::new();
        for line in lines.take(count) {
            let mut parts = line.rsplitn(3, ' ');
            let offset: i64 = parts.next()?.parse().ok()?;
            let partition: i32 = parts.next()?.parse().ok()?;
            let topic = parts.next()?.to_string();
            if offset >= 0 {
                offsets.insert((topic, partition), offset);
            }
        }
        (offsets.len() == count).then_some(OffsetCheckpoint { offsets })
    }

    /// Writes the checkpoint into `dir` atomically (a temporary file renamed over the old one).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = format!("0\n{}\n", self.offsets.len());
        for ((topic, partition), offset) in &self.offsets {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let tmp: PathBuf = dir.join(format!("{}.tmp", Self::FILE));
        let io = |source| Error::Io {
            context: format!("writing the state checkpoint in {}", dir.display()),
            source,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, dir.join(Self::FILE)).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateBackend;
    use crate::state::memory::MemoryBackend;

    /// A changelog in memory: the records of each partition, by offset.
    #[derive(Default)]
    struct Topics(BTreeMap<(String, i32), Vec<Change>>);

    impl Topics {
        fn append(&mut self, records: Vec<OutputRecord>) {
            for r in records {
                self.0.entry((r.topic, r.partition.unwrap())).or_default().push((r.key.unwrap(), r.value));
            }
        }
    }

    impl ChangelogReader for Topics {
        fn read_changelog(
            &mut self,
            topic: &str,
            partition: i32,
            from: i64,
            apply: &mut dyn FnMut(Vec<Change>) -> Result<()>,
        ) -> Result<i64> {
            let log = self.0.get(&(topic.to_string(), partition)).cloned().unwrap_or_default();
            let tail: Vec<Change> = log.iter().skip(from as usize).cloned().collect();
            if !tail.is_empty() {
                apply(tail)?;
            }
            Ok((log.len() as i64).max(from))
        }
    }

    fn contents(store: &mut dyn KeyValueStore) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        store
            .scan(&[], None, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn a_store_rebuilt_from_its_changelog_equals_the_original() {
        let log = ChangeLog::new(3);
        let mut store =
            LoggedStore::new(MemoryBackend.open("s").unwrap(), "app-s-changelog".into(), log.clone());
        store.put(b"a", b"1").unwrap();
        store.put(b"b", b"2").unwrap();
        store.put(b"c", b"3").unwrap();
        store.delete(b"a").unwrap();
        store.write_batch(vec![(Bytes::from_static(b"d"), Some(Bytes::from_static(b"4")))]).unwrap();
        store.delete_range(b"b", b"c").unwrap();
        let mut topics = Topics::default();
        let logged = log.take();
        assert!(logged.iter().all(|r| r.partition == Some(3) && r.topic == "app-s-changelog"));
        assert_eq!(logged.len(), 6, "one record per put and delete, a tombstone per key of a range");
        topics.append(logged);

        // A fresh store with junk in it (no checkpoint) is emptied, then rebuilt.
        let fresh_log = ChangeLog::new(3);
        let mut fresh =
            LoggedStore::new(MemoryBackend.open("s").unwrap(), "app-s-changelog".into(), fresh_log.clone());
        fresh.put(b"zzz", b"junk").unwrap();
        fresh_log.take();
        let restored = restore(&mut fresh, &fresh_log, &mut topics, "app-s-changelog", 3, None).unwrap();
        assert_eq!(restored.records, 6);
        assert_eq!(restored.end, 6);
        assert_eq!(contents(&mut fresh), contents(&mut store));
        assert!(
            fresh_log.take().iter().all(|r| r.key.as_deref() == Some(b"zzz")),
            "restored writes are not logged again"
        );

        // With a checkpoint only the tail is applied.
        store.put(b"e", b"5").unwrap();
        topics.append(log.take());
        let restored = restore(&mut fresh, &fresh_log, &mut topics, "app-s-changelog", 3, Some(5)).unwrap();
        assert_eq!((restored.records, restored.end), (1, 7));
        assert_eq!(contents(&mut fresh), contents(&mut store));
    }

    #[test]
    fn checkpoints_round_trip_and_bad_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(OffsetCheckpoint::read(dir.path()), OffsetCheckpoint::default());
        let mut c = OffsetCheckpoint::default();
        c.offsets.insert(("app-my store-changelog".into(), 2), 41);
        c.offsets.insert(("app-t-changelog".into(), 2), 0);
        c.write(dir.path()).unwrap();
        assert_eq!(OffsetCheckpoint::read(dir.path()), c);
        std::fs::write(dir.path().join(OffsetCheckpoint::FILE), "0\n3\napp-t-changelog 2 0\n").unwrap();
        assert_eq!(OffsetCheckpoint::read(dir.path()), OffsetCheckpoint::default(), "a truncated file");
    }
}
