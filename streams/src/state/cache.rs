//! A write-back cache in front of a store.
//!
//! Aggregations read and rewrite the same keys over and over; with the cache those updates
//! happen in a hash map and reach the backing store once per flush, in one write batch. The
//! cache is bounded by entry count: when full, dirty entries are written out and the cache is
//! emptied. Scans and range deletes first write dirty entries out, so they see every write.

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::KeyValueStore;
use crate::error::Result;

struct Entry {
    value: Option<Bytes>,
    dirty: bool,
}

/// A bounded write-back cache over another store.
pub struct CachedStore {
    inner: Box<dyn KeyValueStore>,
    entries: FxHashMap<Bytes, Entry>,
    max_entries: usize,
    /// Keys written since the last write-out (each once), so writing out costs the number
    /// of dirty entries, not the size of the cache — scans write out before every read.
    dirty: Vec<Bytes>,
}

impl CachedStore {
    /// Wraps `inner` with a cache of up to `max_entries` keys.
    pub fn new(inner: Box<dyn KeyValueStore>, max_entries: usize) -> Self {
        CachedStore {
            inner,
            entries: FxHashMap::default(),
            max_entries: max_entries.max(1),
            dirty: Vec::new(),
        }
    }

    fn write_dirty(&mut self) -> Result<()> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(self.dirty.len());
        for k in std::mem::take(&mut self.dirty) {
            if let Some(e) = self.entries.get_mut(&k)
                && e.dirty
            {
                batch.push((k, e.value.clone()));
                e.dirty = false;
            }
        }
        self.inner.write_batch(batch)
    }

    fn make_room(&mut self) -> Result<()> {
        if self.entries.len() >= self.max_entries {
            self.write_dirty()?;
            self.entries.clear();
        }
        Ok(())
    }

    fn set(&mut self, key: &[u8], value: Option<Bytes>) -> Result<()> {
        if let Some(e) = self.entries.get_mut(key) {
            if !e.dirty {
                self.dirty.push(Bytes::copy_from_slice(key));
            }
            e.value = value;
            e.dirty = true;
            return Ok(());
        }
        self.make_room()?;
        let key = Bytes::copy_from_slice(key);
        self.dirty.push(key.clone());
        self.entries.insert(key, Entry { value, dirty: true });
        Ok(())
    }
}

impl KeyValueStore for CachedStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        if let Some(e) = self.entries.get(key) {
            return Ok(e.value.clone());
        }
        let value = self.inner.get(key)?;
        self.make_room()?;
        self.entries.insert(Bytes::copy_from_slice(key), Entry { value: value.clone(), dirty: false });
        Ok(value)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.set(key, Some(Bytes::copy_from_slice(value)))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.set(key, None)
    }

    fn scan(
        &mut self,
        from: &[u8],
        to: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.write_dirty()?;
        self.inner.scan(from, to, f)
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        self.write_dirty()?;
        self.entries.retain(|k, _| k.as_ref() < from || k.as_ref() >= to);
        self.inner.delete_range(from, to)
    }

    fn flush(&mut self) -> Result<()> {
        self.write_dirty()?;
        self.inner.flush()
    }

    fn seal(&mut self) -> Result<()> {
        self.write_dirty()?;
        self.inner.seal()
    }

    fn approximate_len(&mut self) -> Result<u64> {
        self.write_dirty()?;
        self.inner.approximate_len()
    }

    fn write_batch(&mut self, entries: Vec<(Bytes, Option<Bytes>)>) -> Result<()> {
        for (k, v) in entries {
            self.set(&k, v)?;
        }
        Ok(())
    }
}
