//! In-memory stores (ordered maps) for tests and small state.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::{KeyValueStore, StateBackend};
use crate::error::Result;

/// A `BTreeMap` store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    name: String,
    map: BTreeMap<Bytes, Bytes>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(name: &str) -> Self {
        MemoryStore { name: name.to_string(), map: BTreeMap::new() }
    }
}

impl KeyValueStore for MemoryStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.map.get(key).cloned())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.map.insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.map.remove(key);
        Ok(())
    }
    fn scan(
        &mut self,
        from: &[u8],
        to: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let upper = match to {
            Some(t) => Bound::Excluded(t),
            None => Bound::Unbounded,
        };
        for (k, v) in self.map.range::<[u8], _>((Bound::Included(from), upper)) {
            if !f(k, v) {
                break;
            }
        }
        Ok(())
    }
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        let keys: Vec<Bytes> = self
            .map
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.map.remove(&k);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn approximate_len(&mut self) -> Result<u64> {
        Ok(self.map.len() as u64)
    }
}

/// Opens [`MemoryStore`]s.
#[derive(Debug, Default)]
pub struct MemoryBackend;

impl StateBackend for MemoryBackend {
    fn open(&mut self, name: &str) -> Result<Box<dyn KeyValueStore>> {
        Ok(Box::new(MemoryStore::new(name)))
    }
}
