//! State stores: where stateful operators keep their state.
//!
//! Every store is an ordered byte map ([`KeyValueStore`]); window, session and join-buffer
//! stores are typed layouts over it ([`window`], [`session`]), so a storage engine only has to
//! implement one small trait:
//!
//! * [`rocksdb::RocksDbBackend`] — one RocksDB instance per task, one column family per store;
//!   writes skip the WAL and fsync, and state is flushed when the task commits (state must be
//!   durable before input offsets are committed). Bounded block cache and write buffers keep
//!   memory flat however many keys there are.
//! * [`memory::MemoryBackend`] — `BTreeMap`s, for tests.
//! * [`cache::CachedStore`] — a write-back cache in front of either, so hot keys are read and
//!   updated in memory and written out in batches.
//! * [`changelog::LoggedStore`] — between the cache and the backend: logs every write to the
//!   store's compacted changelog topic, from which a task restores the store when it opens.
//! * [`join_buffer::JoinBuffer`] — stream-stream join buffers, segmented by time, with
//!   in-memory key filters; they batch their own writes and skip the cache.
//!
//! Contract for implementers: `scan` visits keys in ascending byte order and sees every write
//! made before it was called; `flush` makes all writes durable in the backend's sense.

pub mod cache;
pub mod changelog;
pub mod encoding;
pub mod join_buffer;
pub mod key_filter;
pub mod memory;
pub mod rocksdb;
pub mod session;
pub mod window;

use bytes::Bytes;

use crate::error::Result;

/// An ordered byte-key → byte-value store.
pub trait KeyValueStore {
    /// Store name (unique within a task).
    fn name(&self) -> &str;
    /// Looks up a key.
    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>>;
    /// Inserts or replaces.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes a key (no error if absent).
    fn delete(&mut self, key: &[u8]) -> Result<()>;
    /// Calls `f(key, value)` for keys in `[from, to)` (`to = None`: to the end) in ascending
    /// order, until `f` returns `false`.
    fn scan(&mut self, from: &[u8], to: Option<&[u8]>, f: &mut dyn FnMut(&[u8], &[u8]) -> bool)
    -> Result<()>;
    /// Removes all keys in `[from, to)`.
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()>;
    /// Makes writes durable (backend-defined).
    fn flush(&mut self) -> Result<()>;
    /// Marks the writes so far as a unit that will be removed together (a join buffer's
    /// generation): a backend may start writing them out now, in the background, so they do
    /// not share files with later writes. Not a durability point. By default nothing.
    fn seal(&mut self) -> Result<()> {
        Ok(())
    }
    /// Rough number of entries.
    fn approximate_len(&mut self) -> Result<u64>;
    /// Applies puts (`Some`) and deletes (`None`) together; backends override this with a
    /// native batch.
    fn write_batch(&mut self, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<()> {
        for (k, v) in entries {
            match v {
                Some(v) => self.put(&k, &v)?,
                None => self.delete(&k)?,
            }
        }
        Ok(())
    }
}

/// Opens the stores of one task.
pub trait StateBackend {
    /// Opens (or creates) a store by name.
    fn open(&mut self, name: &str) -> Result<Box<dyn KeyValueStore>>;
    /// Opens a store whose keys are written once, rarely read, and removed by key range
    /// (join buffers), so the backend can tune for that; by default as [`open`](Self::open).
    fn open_append_only(&mut self, name: &str) -> Result<Box<dyn KeyValueStore>> {
        self.open(name)
    }
}

/// Which state backend tasks use.
#[derive(Debug, Clone)]
pub enum StateConfig {
    /// In-memory maps (tests, small state).
    Memory,
    /// RocksDB under this directory (one sub-directory per task).
    RocksDb {
        /// Root directory of all task state.
        dir: std::path::PathBuf,
        /// Block cache per task, in bytes.
        block_cache_bytes: usize,
        /// Write-back cache entries per store (0 disables the cache).
        cache_entries: usize,
    },
}

impl StateConfig {
    /// RocksDB in `dir` with default tuning.
    pub fn rocksdb(dir: impl Into<std::path::PathBuf>) -> Self {
        StateConfig::RocksDb { dir: dir.into(), block_cache_bytes: 64 << 20, cache_entries: 200_000 }
    }

    /// Opens the state of task `task` of application `application_id`: the backend (RocksDB in
    /// `dir/application_id/task`, or memory) and the write-back cache size its stores get.
    pub fn open(&self, application_id: &str, task: crate::task::TaskId) -> (Box<dyn StateBackend>, usize) {
        match self {
            StateConfig::Memory => (Box::new(memory::MemoryBackend), 0),
            StateConfig::RocksDb { dir, block_cache_bytes, cache_entries } => (
                Box::new(rocksdb::RocksDbBackend::new(
                    self.task_dir(application_id, task).unwrap_or_else(|| dir.clone()),
                    *block_cache_bytes,
                )),
                *cache_entries,
            ),
        }
    }
}

impl StateConfig {
    /// The directory of task `task`'s state (`None` for memory state, which a restart loses).
    pub fn task_dir(&self, application_id: &str, task: crate::task::TaskId) -> Option<std::path::PathBuf> {
        match self {
            StateConfig::Memory => None,
            StateConfig::RocksDb { dir, .. } => Some(dir.join(application_id).join(task.to_string())),
        }
    }
}

/// A task-shared store ([`crate::task::StoreRef`]) usable wherever a boxed store is expected.
pub struct SharedStore {
    name: String,
    store: crate::task::StoreRef,
}

impl SharedStore {
    /// Wraps a shared store handle.
    pub fn new(store: crate::task::StoreRef) -> Self {
        let name = store.borrow().name().to_string();
        SharedStore { name, store }
    }
}

impl KeyValueStore for SharedStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        self.store.borrow_mut().get(key)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.store.borrow_mut().put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.store.borrow_mut().delete(key)
    }
    fn scan(
        &mut self,
        from: &[u8],
        to: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.store.borrow_mut().scan(from, to, f)
    }
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        self.store.borrow_mut().delete_range(from, to)
    }
    fn flush(&mut self) -> Result<()> {
        self.store.borrow_mut().flush()
    }
    fn seal(&mut self) -> Result<()> {
        self.store.borrow_mut().seal()
    }
    fn approximate_len(&mut self) -> Result<u64> {
        self.store.borrow_mut().approximate_len()
    }
    fn write_batch(&mut self, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<()> {
        self.store.borrow_mut().write_batch(entries)
    }
}
