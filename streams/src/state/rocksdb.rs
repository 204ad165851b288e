//! RocksDB stores: one database per task, one column family per store.
//!
//! Tuning follows Kafka Streams' defaults in spirit: a bounded LRU block cache with bloom
//! filters, moderate write buffers, LZ4 compression, and writes that skip both the WAL and
//! fsync — durability comes from [`KeyValueStore::flush`], which the task calls before it
//! commits its input offsets. Reads and writes stay on the task's thread.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, DBWithThreadMode, FlushOptions, MultiThreaded, Options,
    WriteBatch, WriteOptions,
};

use super::{KeyValueStore, StateBackend};
use crate::error::{Error, Result};

type Db = DBWithThreadMode<MultiThreaded>;

/// Opens stores in one RocksDB instance (one per task).
pub struct RocksDbBackend {
    path: PathBuf,
    block_cache_bytes: usize,
    db: Option<Rc<Db>>,
}

impl RocksDbBackend {
    /// A backend whose database lives in `path` (created on first use).
    pub fn new(path: impl Into<PathBuf>, block_cache_bytes: usize) -> Self {
        RocksDbBackend { path: path.into(), block_cache_bytes, db: None }
    }

    fn options(&self) -> Options {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(self.block_cache_bytes));
        table.set_bloom_filter(10.0, false);
        // Index and filter blocks stay in the table readers' own memory (RocksDB's default).
        // In the block cache, a filter larger than one cache shard (64 MB / 64 shards) is
        // evicted as soon as it is read, and every lookup re-read and re-checksummed it from
        // the file: Nexmark q5 fell from ~380K to ~75K events/s per core past 3M events.
        table.set_cache_index_and_filter_blocks(false);
        opts.set_block_based_table_factory(&table);
        // Most aggregation lookups miss (a new key or a new window): a whole-key bloom filter
        // on the memtable answers those without walking its skip list.
        opts.set_memtable_prefix_bloom_ratio(0.1);
        opts.set_memtable_whole_key_filtering(true);
        opts.set_write_buffer_size(16 << 20);
        opts.set_max_write_buffer_number(3);
        opts.set_compression_type(DBCompressionType::Lz4);
        // Fresh state is rewritten soon (flushes, level-0 compactions): compressing it is
        // wasted CPU. Compress from level 2, where data settles.
        opts.set_compression_per_level(&[
            DBCompressionType::None,
            DBCompressionType::None,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
            DBCompressionType::Lz4,
        ]);
        opts.set_max_background_jobs(2);
        opts.set_max_open_files(256);
        opts
    }

    fn db(&mut self) -> Result<Rc<Db>> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        std::fs::create_dir_all(&self.path)
            .map_err(|source| Error::Io { context: format!("creating {}", self.path.display()), source })?;
        let opts = self.options();
        let existing = Db::list_cf(&opts, &self.path).unwrap_or_default();
        let db = Db::open_cf(&opts, &self.path, existing).map_err(|e| state_err(&self.path, e))?;
        let db = Rc::new(db);
        self.db = Some(db.clone());
        Ok(db)
    }
}

fn state_err(path: &Path, e: rocksdb::Error) -> Error {
    let (store, reason) = (path.display().to_string(), e.to_string());
    // RocksDB's LOCK file: held by this process ("lock hold by current process") or another
    // ("While lock file: …: Resource temporarily unavailable").
    if reason.contains("lock hold by current process") || reason.contains("While lock file") {
        return Error::StoreLocked { store, reason };
    }
    Error::State { store, reason }
}

/// Compaction settings of append-only stores (see [`StateBackend::open_append_only`]): their
/// data is removed by range long before leveled compaction would pay off, and they are
/// rarely read, so level 0 may hold many more files before it is compacted. These are
/// mutable options, so they apply to column families created before as well.
const APPEND_ONLY_OPTIONS: [(&str, &str); 4] = [
    ("level0_file_num_compaction_trigger", "16"),
    ("level0_slowdown_writes_trigger", "40"),
    ("level0_stop_writes_trigger", "64"),
    // A file whose compression differs from its target level's cannot be moved there
    // without a rewrite; short-lived data is not worth compressing anyway.
    (
        "compression_per_level",
        "kNoCompression:kNoCompression:kNoCompression:kNoCompression:kNoCompression:kNoCompression:kNoCompression",
    ),
];

impl RocksDbBackend {
    fn open_column_family(&mut self, name: &str, tuning: &[(&str, &str)]) -> Result<Box<dyn KeyValueStore>> {
        let db = self.db()?;
        if db.cf_handle(name).is_none() {
            db.create_cf(name, &self.options()).map_err(|e| Error::State {
                store: name.to_string(),
                reason: format!("creating column family: {e}"),
            })?;
        }
        if !tuning.is_empty() {
            let cf = db.cf_handle(name).ok_or_else(|| Error::State {
                store: name.to_string(),
                reason: "column family vanished".into(),
            })?;
            db.set_options_cf(&cf, tuning)
                .map_err(|e| Error::State { store: name.to_string(), reason: format!("tuning: {e}") })?;
        }
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        write.set_sync(false);
        Ok(Box::new(RocksDbStore { name: name.to_string(), db, write }))
    }
}

impl StateBackend for RocksDbBackend {
    fn open(&mut self, name: &str) -> Result<Box<dyn KeyValueStore>> {
        self.open_column_family(name, &[])
    }

    fn open_append_only(&mut self, name: &str) -> Result<Box<dyn KeyValueStore>> {
        self.open_column_family(name, &APPEND_ONLY_OPTIONS)
    }
}

/// One store: a column family of the task's database.
pub struct RocksDbStore {
    name: String,
    db: Rc<Db>,
    write: WriteOptions,
}

impl RocksDbStore {
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::State { store: self.name.clone(), reason: e.to_string() }
    }
}

impl KeyValueStore for RocksDbStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        let v = self.db.get_pinned_cf(&cf, key).map_err(|e| self.err(e))?;
        Ok(v.map(|v| Bytes::copy_from_slice(&v)))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        self.db.put_cf_opt(&cf, key, value, &self.write).map_err(|e| self.err(e))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        self.db.delete_cf_opt(&cf, key, &self.write).map_err(|e| self.err(e))
    }

    fn scan(
        &mut self,
        from: &[u8],
        to: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        let mut it = self.db.raw_iterator_cf(&cf);
        it.seek(from);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            if to.is_some_and(|t| k >= t) {
                break;
            }
            if !f(k, v) {
                break;
            }
            it.next();
        }
        it.status().map_err(|e| self.err(e))
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(&cf, from, to);
        self.db.write_opt(batch, &self.write).map_err(|e| self.err(e))
    }

    fn flush(&mut self) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        self.db.flush_cf(&cf).map_err(|e| self.err(e))
    }

    fn seal(&mut self) -> Result<()> {
        // Switch to a new memtable now and flush the old one in the background: its keys then
        // make their own level-0 file, which later compactions can move without rewriting.
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        let mut opts = FlushOptions::default();
        opts.set_wait(false);
        self.db.flush_cf_opt(&cf, &opts).map_err(|e| self.err(e))
    }

    fn write_batch(&mut self, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<()> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        // Sized up front: growing the batch's buffer would copy it again and again.
        let bytes: usize = entries.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 12).sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 12);
        for (k, v) in &entries {
            match v {
                Some(v) => batch.put_cf(&cf, k, v),
                None => batch.delete_cf(&cf, k),
            }
        }
        self.db.write_opt(batch, &self.write).map_err(|e| self.err(e))
    }

    fn approximate_len(&mut self) -> Result<u64> {
        let cf = self.db.cf_handle(&self.name).ok_or_else(|| self.err("column family vanished"))?;
        Ok(self
            .db
            .property_int_value_cf(&cf, "rocksdb.estimate-num-keys")
            .map_err(|e| self.err(e))?
            .unwrap_or(0))
    }
}
