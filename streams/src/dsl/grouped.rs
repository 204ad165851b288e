//! Grouped and windowed streams: the aggregations.

use std::sync::Arc;

use super::Data;
use super::kstream::KStream;
use super::ktable::{Change, KTable};
use super::node::{Node, Processor};
use super::window::{SessionWindows, SlidingWindows, TimeWindows, Windowed, WindowedSerde};
use crate::operator::aggregate::Aggregate;
use crate::operator::session_window::SessionWindowAggregate;
use crate::operator::sliding_window::SlidingWindowAggregate;
use crate::operator::time_window::TimeWindowAggregate;
use crate::operator::{Adder, Init, Merger};
use crate::serde::SerdeRef;
use crate::state::SharedStore;
use crate::state::session::KeyTimeStore;
use crate::state::window::WindowStore;

/// When windowed aggregations emit results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window (Kafka Streams' default, ksqlDB's `EMIT CHANGES`).
    #[default]
    OnWindowUpdate,
    /// Once, when the window closes (end + grace passed): ksqlDB's `EMIT FINAL`.
    OnWindowClose,
}

/// A stream grouped by key, ready for aggregation.
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>) -> Self {
        KGroupedStream { stream }
    }

    /// Counts records per key.
    pub fn count(&self) -> KTable<K, i64> {
        self.aggregate(|| 0i64, |_, _, n| n + 1)
    }

    /// Combines the values of each key with `f(aggregate, value)`.
    pub fn reduce(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> KTable<K, V> {
        let f = Arc::new(f);
        let serde = self.stream.value_serde.clone();
        self.aggregate_with(
            "KSTREAM-REDUCE",
            serde,
            Arc::new(|| None::<V>),
            Arc::new(move |_, v, acc: Option<V>| {
                Some(match acc {
                    Some(a) => f(a, v),
                    None => v,
                })
            }),
        )
    }

    /// Folds the values of each key into an aggregate.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<K, A> {
        let init: Init<A> = Arc::new(init);
        let adder: Adder<K, V, A> = Arc::new(adder);
        let b = &self.stream.builder;
        let (id, name) = b.name("KSTREAM-AGGREGATE");
        let store = format!("{name}-STATE-STORE");
        let group = self.stream.node.group;
        b.describe(group, format!("Processor: {name} (store: {store})"));
        b.add_store(group, &store);
        let out: Node<K, Change<A>> = Node::new(id, group);
        let (o, ks, st) = (out.clone(), self.stream.key_serde.clone(), store.clone());
        self.stream.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(Aggregate {
                name: name.clone(),
                store: bld.store(&st)?,
                key_serde: ks.clone(),
                agg_serde: A::serde(),
                init: init.clone(),
                adder: adder.clone(),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, V>>)
        }));
        KTable::new(b.clone(), out, self.stream.key_serde.clone(), A::serde(), Some(store))
    }

    /// `reduce` keeps `Option<V>` internally so the first value needs no initializer.
    fn aggregate_with(
        &self,
        kind: &str,
        value_serde: SerdeRef<V>,
        init: Init<Option<V>>,
        adder: Adder<K, V, Option<V>>,
    ) -> KTable<K, V> {
        let b = &self.stream.builder;
        let (id, name) = b.name(kind);
        let store = format!("{name}-STATE-STORE");
        let group = self.stream.node.group;
        b.describe(group, format!("Processor: {name} (store: {store})"));
        b.add_store(group, &store);
        let inner: Node<K, Change<Option<V>>> = Node::new(id, group);
        let (o, ks, st, vs) =
            (inner.clone(), self.stream.key_serde.clone(), store.clone(), value_serde.clone());
        self.stream.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(Aggregate {
                name: name.clone(),
                store: bld.store(&st)?,
                key_serde: ks.clone(),
                agg_serde: crate::serde::serdes::nullable(vs.clone()),
                init: init.clone(),
                adder: adder.clone(),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, V>>)
        }));
        let table: KTable<K, Option<V>> = KTable::new(
            b.clone(),
            inner,
            self.stream.key_serde.clone(),
            crate::serde::serdes::nullable(value_serde.clone()),
            None,
        );
        let mut flat = table.change_flatten(value_serde);
        flat.store = Some(store);
        flat
    }

    /// Aggregates in tumbling or hopping windows.
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            stream: self.stream.clone(),
            windows,
            emit: EmitStrategy::default(),
            retention: None,
        }
    }

    /// Aggregates in sliding windows.
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> SlidingWindowedKStream<K, V> {
        SlidingWindowedKStream { stream: self.stream.clone(), windows, emit: EmitStrategy::default() }
    }

    /// Aggregates in session windows.
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream { stream: self.stream.clone(), windows, emit: EmitStrategy::default() }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, Option<V>> {
    /// Drops the `Option` layer used internally by `reduce`.
    pub(crate) fn change_flatten(&self, value_serde: SerdeRef<V>) -> KTable<K, V> {
        let (id, name) = self.builder.name("KTABLE-FLATTEN");
        let out: Node<K, Change<V>> = Node::new(id, self.node.group);
        let _ = name;
        let o = out.clone();
        self.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(Flatten { down: o.downstream(bld)? }) as Box<dyn Processor<K, Change<Option<V>>>>)
        }));
        KTable::new(self.builder.clone(), out, self.key_serde.clone(), value_serde, None)
    }
}

struct Flatten<K, V> {
    down: super::node::Downstream<K, Change<V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<Option<V>>> for Flatten<K, V> {
    fn process(
        &mut self,
        r: crate::record::Record<K, Change<Option<V>>>,
        ctx: &mut crate::task::TaskContext,
    ) -> crate::error::Result<()> {
        let value = Change { new: r.value.new.flatten(), old: r.value.old.flatten() };
        self.down.borrow_mut().process(
            crate::record::Record { key: r.key, value, timestamp: r.timestamp, headers: r.headers },
            ctx,
        )
    }
    fn advance(&mut self, watermark: i64, ctx: &mut crate::task::TaskContext) -> crate::error::Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut crate::task::TaskContext) -> crate::error::Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

/// A grouped stream with tumbling or hopping windows.
pub struct TimeWindowedKStream<K, V> {
    stream: KStream<K, V>,
    windows: TimeWindows,
    emit: EmitStrategy,
    retention: Option<i64>,
}

impl<K: Clone + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    /// Chooses emit-on-update (default) or emit-on-close.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// How long windows are kept after they start (at least size + grace).
    pub fn retention(mut self, ms: i64) -> Self {
        self.retention = Some(ms);
        self
    }

    /// Counts records per key and window.
    pub fn count(&self) -> KTable<Windowed<K>, i64> {
        self.aggregate(|| 0i64, |_, _, n| n + 1)
    }

    /// Combines the values of each key and window with `f(aggregate, value)`.
    pub fn reduce(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> KTable<Windowed<K>, V>
    where
        V: Data,
    {
        let f = Arc::new(f);
        self.aggregate_opt(move |_, v, acc: Option<V>| {
            Some(match acc {
                Some(a) => f(a, v),
                None => v,
            })
        })
    }

    fn aggregate_opt(
        &self,
        adder: impl Fn(&K, V, Option<V>) -> Option<V> + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, V>
    where
        V: Data,
    {
        self.aggregate(|| None::<V>, adder).change_flatten(self.stream.value_serde.clone())
    }

    /// Folds values per key and window.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let init: Init<A> = Arc::new(init);
        let adder: Adder<K, V, A> = Arc::new(adder);
        let b = &self.stream.builder;
        let (id, name) = b.name("KSTREAM-WINDOWED-AGGREGATE");
        let store = format!("{name}-STATE-STORE");
        let group = self.stream.node.group;
        let w = self.windows;
        b.describe(
            group,
            format!(
                "Processor: {name} (size {}ms, advance {}ms, grace {}ms, emit {:?}, store: {store})",
                w.size, w.advance, w.grace, self.emit
            ),
        );
        b.add_store(group, &store);
        let out: Node<Windowed<K>, Change<A>> = Node::new(id, group);
        let retention = self.retention.unwrap_or(0).max(w.size + w.grace);
        let emit_final = self.emit == EmitStrategy::OnWindowClose;
        let (o, ks, st) = (out.clone(), self.stream.key_serde.clone(), store.clone());
        self.stream.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(TimeWindowAggregate {
                name: name.clone(),
                windows: w,
                retention,
                store: WindowStore::new(Box::new(SharedStore::new(bld.store(&st)?))),
                key_serde: ks.clone(),
                agg_serde: A::serde(),
                init: init.clone(),
                adder: adder.clone(),
                emit_final,
                observed: i64::MIN,
                emitted_below: i64::MIN,
                expired_below: i64::MIN,
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, V>>)
        }));
        KTable::new(
            b.clone(),
            out,
            WindowedSerde::time(self.stream.key_serde.clone(), w.size),
            A::serde(),
            None,
        )
    }
}

/// A grouped stream with sliding windows.
pub struct SlidingWindowedKStream<K, V> {
    stream: KStream<K, V>,
    windows: SlidingWindows,
    emit: EmitStrategy,
}

impl<K: Clone + 'static, V: Clone + 'static> SlidingWindowedKStream<K, V> {
    /// Chooses emit-on-update (default) or emit-on-close.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per key and window.
    pub fn count(&self) -> KTable<Windowed<K>, i64> {
        self.aggregate(|| 0i64, |_, _, n| n + 1)
    }

    /// Folds values per key and window.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let init: Init<A> = Arc::new(init);
        let adder: Adder<K, V, A> = Arc::new(adder);
        let b = &self.stream.builder;
        let (id, name) = b.name("KSTREAM-SLIDING-AGGREGATE");
        let stores = [format!("{name}-records"), format!("{name}-records-idx"), format!("{name}-windows")];
        let group = self.stream.node.group;
        let w = self.windows;
        b.describe(
            group,
            format!(
                "Processor: {name} (difference {}ms, grace {}ms, emit {:?})",
                w.difference, w.grace, self.emit
            ),
        );
        for s in &stores {
            b.add_store(group, s);
        }
        let out: Node<Windowed<K>, Change<A>> = Node::new(id, group);
        let emit_final = self.emit == EmitStrategy::OnWindowClose;
        let (o, ks, vs) = (out.clone(), self.stream.key_serde.clone(), self.stream.value_serde.clone());
        self.stream.node.add_child(Arc::new(move |bld| {
            let mut open = |i: usize| -> crate::error::Result<Box<dyn crate::state::KeyValueStore>> {
                Ok(Box::new(SharedStore::new(bld.store(&stores[i])?)))
            };
            let records = KeyTimeStore::new(open(0)?, open(1)?);
            let aggregates = WindowStore::new(open(2)?);
            Ok(Box::new(SlidingWindowAggregate {
                name: name.clone(),
                windows: w,
                records,
                aggregates,
                key_serde: ks.clone(),
                value_serde: vs.clone(),
                agg_serde: A::serde(),
                init: init.clone(),
                adder: adder.clone(),
                emit_final,
                observed: i64::MIN,
                emitted_below: i64::MIN,
                seq: 0,
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, V>>)
        }));
        // Sliding windows are [start, start + difference]: serialized like time windows.
        KTable::new(
            b.clone(),
            out,
            WindowedSerde::time(self.stream.key_serde.clone(), w.difference),
            A::serde(),
            None,
        )
    }
}

/// A grouped stream with session windows.
pub struct SessionWindowedKStream<K, V> {
    stream: KStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K: Clone + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    /// Chooses emit-on-update (default) or emit-on-close.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per session.
    pub fn count(&self) -> KTable<Windowed<K>, i64> {
        self.aggregate(|| 0i64, |_, _, n| n + 1, |_, a, b| a + b)
    }

    /// Folds values per session; `merger` combines the aggregates of sessions that merge.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let init: Init<A> = Arc::new(init);
        let adder: Adder<K, V, A> = Arc::new(adder);
        let merger: Merger<K, A> = Arc::new(merger);
        let b = &self.stream.builder;
        let (id, name) = b.name("KSTREAM-SESSION-AGGREGATE");
        let stores = [format!("{name}-sessions"), format!("{name}-sessions-idx")];
        let group = self.stream.node.group;
        let w = self.windows;
        b.describe(
            group,
            format!("Processor: {name} (gap {}ms, grace {}ms, emit {:?})", w.gap, w.grace, self.emit),
        );
        for s in &stores {
            b.add_store(group, s);
        }
        let out: Node<Windowed<K>, Change<A>> = Node::new(id, group);
        let emit_final = self.emit == EmitStrategy::OnWindowClose;
        let (o, ks) = (out.clone(), self.stream.key_serde.clone());
        self.stream.node.add_child(Arc::new(move |bld| {
            let store = KeyTimeStore::new(
                Box::new(SharedStore::new(bld.store(&stores[0])?)),
                Box::new(SharedStore::new(bld.store(&stores[1])?)),
            );
            Ok(Box::new(SessionWindowAggregate {
                name: name.clone(),
                windows: w,
                store,
                key_serde: ks.clone(),
                agg_serde: A::serde(),
                init: init.clone(),
                adder: adder.clone(),
                merger: merger.clone(),
                emit_final,
                observed: i64::MIN,
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, V>>)
        }));
        KTable::new(b.clone(), out, WindowedSerde::session(self.stream.key_serde.clone()), A::serde(), None)
    }
}
