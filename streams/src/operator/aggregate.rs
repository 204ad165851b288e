//! Per-key aggregation (`count`, `reduce`, `aggregate`) into a key-value store.
//!
//! Each input record reads the key's aggregate, folds the value in, writes it back and emits
//! the change (new and old aggregate) downstream — Kafka Streams' emit-on-update.

use super::{Adder, Init, decode, encode, key_bytes};
use crate::dsl::Change;
use crate::dsl::node::{Downstream, Processor};
use crate::error::Result;
use crate::record::Record;
use crate::serde::SerdeRef;
use crate::task::{StoreRef, TaskContext};

/// The aggregation processor.
pub struct Aggregate<K, V, A> {
    /// Operator name (for errors).
    pub name: String,
    /// Aggregates by serialized key.
    pub store: StoreRef,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Aggregate serde.
    pub agg_serde: SerdeRef<A>,
    /// Initial aggregate.
    pub init: Init<A>,
    /// Fold function.
    pub adder: Adder<K, V, A>,
    /// Where changes go.
    pub down: Downstream<K, Change<A>>,
}

impl<K: Clone + 'static, V: 'static, A: Clone + 'static> Processor<K, V> for Aggregate<K, V, A> {
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let stored = self.store.borrow_mut().get(&kb)?;
        let old = decode(&self.agg_serde, stored, ctx, &self.name);
        let new = (self.adder)(&r.key, r.value, old.clone().unwrap_or_else(|| (self.init)()));
        let Some(nb) = encode(&self.agg_serde, &new, ctx, &self.name) else { return Ok(()) };
        self.store.borrow_mut().put(&kb, &nb)?;
        let rec = Record {
            key: r.key,
            value: Change { new: Some(new), old },
            timestamp: r.timestamp,
            headers: r.headers,
        };
        self.down.borrow_mut().process(rec, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.store.borrow_mut().flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}
