//! [`KTable`]: a changelog stream interpreted as the latest value per key.
//!
//! Table operators pass [`Change`]s (new and old value) downstream, as Kafka Streams does, so
//! that joins and filters can retract what they emitted before. A `None` new value is a
//! delete (tombstone). Tables read from topics and aggregation results are materialized in a
//! key-value store; derived tables are materialized on demand (for joins).

use std::sync::Arc;

use super::Data;
use super::builder::{RawProcessor, StreamsBuilder};
use super::kstream::KStream;
use super::node::{Downstream, Node, Processor};
use crate::error::Result;
use crate::operator::ChangeMapper;
use crate::record::{InputRecord, Record};
use crate::serde::{SerdeRef, serdes};
use crate::task::{StoreRef, TaskContext};

/// An update of a table row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The new value (`None`: deleted).
    pub new: Option<V>,
    /// The previous value (`None`: the key was absent).
    pub old: Option<V>,
}

/// A table: the latest value per key.
pub struct KTable<K, V> {
    pub(crate) builder: StreamsBuilder,
    pub(crate) node: Node<K, Change<V>>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    /// The store holding the table's current values, if materialized.
    pub(crate) store: Option<String>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            builder: self.builder.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
        }
    }
}

/// Reads a table topic into its store and emits changes.
pub(crate) struct TableSource<K, V> {
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    store: StoreRef,
    down: Downstream<K, Change<V>>,
}

impl<K, V> TableSource<K, V> {
    pub(crate) fn new(
        topic: String,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        store: StoreRef,
        down: Downstream<K, Change<V>>,
    ) -> Self {
        TableSource { topic, key_serde, value_serde, store, down }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> RawProcessor for TableSource<K, V> {
    fn process_raw(&mut self, r: &InputRecord, ctx: &mut TaskContext) -> Result<()> {
        ctx.observe_time(r.timestamp);
        let Some(kb) = r.key.as_deref() else {
            ctx.skip(&self.topic, "table record with a null key");
            return Ok(());
        };
        let key = match self.key_serde.deserialize(Some(kb)) {
            Ok(k) => k,
            Err(e) => {
                ctx.skip(&self.topic, format!("bad key: {e}"));
                return Ok(());
            }
        };
        let new = match r.value.as_deref() {
            None => None,
            Some(vb) => match self.value_serde.deserialize(Some(vb)) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.skip(&self.topic, format!("bad value: {e}"));
                    return Ok(());
                }
            },
        };
        let old_bytes = self.store.borrow_mut().get(kb)?;
        let old = old_bytes.and_then(|b| self.value_serde.deserialize(Some(&b)).ok());
        match r.value.as_deref() {
            Some(vb) => self.store.borrow_mut().put(kb, vb)?,
            None => self.store.borrow_mut().delete(kb)?,
        }
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        let rec =
            Record { key, value: Change { new, old }, timestamp: r.timestamp, headers: r.headers.clone() };
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

/// Writes each change into a store, then forwards it.
struct Materializer<K, V> {
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    store: StoreRef,
    down: Downstream<K, Change<V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>> for Materializer<K, V> {
    fn process(&mut self, r: Record<K, Change<V>>, ctx: &mut TaskContext) -> Result<()> {
        let Ok(Some(kb)) = self.key_serde.serialize(&r.key) else {
            ctx.skip("materialize", "key cannot be serialized");
            return Ok(());
        };
        match &r.value.new {
            Some(v) => match self.value_serde.serialize(v) {
                Ok(Some(vb)) => self.store.borrow_mut().put(&kb, &vb)?,
                Ok(None) => self.store.borrow_mut().delete(&kb)?,
                Err(e) => {
                    ctx.skip("materialize", e);
                    return Ok(());
                }
            },
            None => self.store.borrow_mut().delete(&kb)?,
        }
        self.down.borrow_mut().process(r, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.store.borrow_mut().flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}

/// Maps changes one to one (filter and map_values on tables).
struct ChangeMap<K, V, V2> {
    f: ChangeMapper<K, V, V2>,
    down: Downstream<K, Change<V2>>,
}

impl<K: Clone + 'static, V: 'static, V2: Clone + 'static> Processor<K, Change<V>> for ChangeMap<K, V, V2> {
    fn process(&mut self, r: Record<K, Change<V>>, ctx: &mut TaskContext) -> Result<()> {
        let new = (self.f)(&r.key, r.value.new);
        let old = (self.f)(&r.key, r.value.old);
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        let rec =
            Record { key: r.key, value: Change { new, old }, timestamp: r.timestamp, headers: r.headers };
        self.down.borrow_mut().process(rec, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

/// Emits the new value of each change as a stream record (`None` for deletes).
struct ToStream<K, V> {
    down: Downstream<K, Option<V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>> for ToStream<K, V> {
    fn process(&mut self, r: Record<K, Change<V>>, ctx: &mut TaskContext) -> Result<()> {
        let rec = Record { key: r.key, value: r.value.new, timestamp: r.timestamp, headers: r.headers };
        self.down.borrow_mut().process(rec, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    pub(crate) fn new(
        builder: StreamsBuilder,
        node: Node<K, Change<V>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        store: Option<String>,
    ) -> Self {
        KTable { builder, node, key_serde, value_serde, store }
    }

    fn change_map<V2: Clone + 'static>(
        &self,
        kind: &str,
        value_serde: SerdeRef<V2>,
        f: ChangeMapper<K, V, V2>,
    ) -> KTable<K, V2> {
        let (id, name) = self.builder.name(kind);
        let out = Node::new(id, self.node.group);
        self.builder.describe(self.node.group, format!("Processor: {name}"));
        let o = out.clone();
        self.node.add_child(Arc::new(move |b| {
            Ok(Box::new(ChangeMap { f: f.clone(), down: o.downstream(b)? })
                as Box<dyn Processor<K, Change<V>>>)
        }));
        KTable::new(self.builder.clone(), out, self.key_serde.clone(), value_serde, None)
    }

    /// Keeps rows for which `predicate` holds; rows that stop matching are deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.change_map(
            "KTABLE-FILTER",
            self.value_serde.clone(),
            Arc::new(move |k, v| v.filter(|v| predicate(k, v))),
        )
    }

    /// Drops rows for which `predicate` holds.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Transforms each row's value.
    pub fn map_values<V2: Data>(&self, f: impl Fn(&V) -> V2 + Send + Sync + 'static) -> KTable<K, V2> {
        self.change_map("KTABLE-MAPVALUES", V2::serde(), Arc::new(move |_, v| v.map(|v| f(&v))))
    }

    /// The table's changelog as a stream: each update's new value, `None` for deletes.
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let (id, name) = self.builder.name("KTABLE-TOSTREAM");
        let out: Node<K, Option<V>> = Node::new(id, self.node.group);
        self.builder.describe(self.node.group, format!("Processor: {name}"));
        let o = out.clone();
        self.node.add_child(Arc::new(move |b| {
            Ok(Box::new(ToStream { down: o.downstream(b)? }) as Box<dyn Processor<K, Change<V>>>)
        }));
        KStream::new(
            self.builder.clone(),
            out,
            self.key_serde.clone(),
            serdes::nullable(self.value_serde.clone()),
            false,
        )
    }

    /// This table, materialized in a store (adds a store if it has none).
    pub fn materialize(&self) -> KTable<K, V> {
        if self.store.is_some() {
            return self.clone();
        }
        let (id, name) = self.builder.name("KTABLE-MATERIALIZE");
        let store = format!("{name}-STORE");
        let out = Node::new(id, self.node.group);
        self.builder.describe(self.node.group, format!("Processor: {name} (store: {store})"));
        self.builder.add_store(self.node.group, &store);
        let (o, ks, vs, st) = (out.clone(), self.key_serde.clone(), self.value_serde.clone(), store.clone());
        self.node.add_child(Arc::new(move |b| {
            Ok(Box::new(Materializer {
                key_serde: ks.clone(),
                value_serde: vs.clone(),
                store: b.store(&st)?,
                down: o.downstream(b)?,
            }) as Box<dyn Processor<K, Change<V>>>)
        }));
        KTable::new(self.builder.clone(), out, self.key_serde.clone(), self.value_serde.clone(), Some(store))
    }

    /// Name of the store with this table's values (materializing it if needed).
    pub fn store_name(&self) -> String {
        self.materialize().store.unwrap_or_default()
    }

    /// Inner table-table join on the key.
    pub fn join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        super::join::table_table(self, other, move |l, r| Some(joiner(l?, r?)))
    }

    /// Left table-table join: every left row, with `None` where the right table has no row.
    pub fn left_join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        super::join::table_table(self, other, move |l, r| Some(joiner(l?, r)))
    }

    /// Outer table-table join: rows present in either table.
    pub fn outer_join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        super::join::table_table(self, other, move |l, r| {
            if l.is_none() && r.is_none() { None } else { Some(joiner(l, r)) }
        })
    }

    /// Foreign-key join: each row of this table joins the row of `other` whose key
    /// `foreign_key` extracts from this row's value. The result is keyed like this table.
    pub fn join_on_foreign_key<KO: Data, VO: Clone + 'static, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        super::join::foreign_key(
            self,
            other,
            Arc::new(foreign_key),
            Arc::new(move |l, r| Some(joiner(l, r?))),
        )
    }

    /// Left foreign-key join: every row of this table, with `None` when no row of `other`
    /// matches its foreign key.
    pub fn left_join_on_foreign_key<KO: Data, VO: Clone + 'static, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> KO + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        super::join::foreign_key(self, other, Arc::new(foreign_key), Arc::new(move |l, r| Some(joiner(l, r))))
    }
}
