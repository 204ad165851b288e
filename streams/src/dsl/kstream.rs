//! [`KStream`]: an unbounded stream of independent records, and its stateless operators.

use std::marker::PhantomData;
use std::sync::Arc;

use super::Data;
use super::builder::StreamsBuilder;
use super::grouped::KGroupedStream;
use super::join::{self, JoinWindows};
use super::ktable::KTable;
use super::node::{Downstream, Forward, Node, Processor};
use crate::error::Result;
use crate::operator::{Predicate, Visitor};
use crate::record::{OutputRecord, Record};
use crate::serde::SerdeRef;
use crate::task::TaskContext;
use crate::topology::{INTERNAL_PREFIX, InternalTopic};

/// A stream of key-value records.
pub struct KStream<K, V> {
    pub(crate) builder: StreamsBuilder,
    pub(crate) node: Node<K, V>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    /// The key changed since the source, so grouping or joining must repartition first.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            builder: self.builder.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

/// A stateless one-to-many transformation used by most operators.
type Transform<K, V, K2, V2> = Arc<dyn Fn(Record<K, V>, &mut Vec<Record<K2, V2>>) + Send + Sync>;

struct Stateless<K, V, K2, V2> {
    f: Transform<K, V, K2, V2>,
    buf: Vec<Record<K2, V2>>,
    down: Downstream<K2, V2>,
}

impl<K: 'static, V: 'static, K2: Clone + 'static, V2: Clone + 'static> Processor<K, V>
    for Stateless<K, V, K2, V2>
{
    fn process(&mut self, record: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        (self.f)(record, &mut self.buf);
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut down = self.down.borrow_mut();
        for r in self.buf.drain(..) {
            down.process(r, ctx)?;
        }
        Ok(())
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

/// Writes records to a topic.
pub(crate) struct Sink<K, V> {
    pub topic: String,
    pub key_serde: SerdeRef<K>,
    pub value_serde: SerdeRef<V>,
}

impl<K: 'static, V: 'static> Processor<K, V> for Sink<K, V> {
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        let key = match self.key_serde.serialize(&r.key) {
            Ok(k) => k,
            Err(e) => {
                ctx.skip(&self.topic, format!("cannot serialize key: {e}"));
                return Ok(());
            }
        };
        let value = match self.value_serde.serialize(&r.value) {
            Ok(v) => v,
            Err(e) => {
                ctx.skip(&self.topic, format!("cannot serialize value: {e}"));
                return Ok(());
            }
        };
        ctx.send(OutputRecord {
            topic: self.topic.clone(),
            partition: None,
            key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        });
        Ok(())
    }
    fn advance(&mut self, _: i64, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
}

/// Calls a function for each record (terminal).
struct ForEach<K, V> {
    f: Visitor<K, V>,
    _p: PhantomData<(K, V)>,
}

impl<K: 'static, V: 'static> Processor<K, V> for ForEach<K, V> {
    fn process(&mut self, r: Record<K, V>, _: &mut TaskContext) -> Result<()> {
        (self.f)(&r.key, &r.value);
        Ok(())
    }
    fn advance(&mut self, _: i64, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self, _: &mut TaskContext) -> Result<()> {
        Ok(())
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn new(
        builder: StreamsBuilder,
        node: Node<K, V>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        repartition_required: bool,
    ) -> Self {
        KStream { builder, node, key_serde, value_serde, repartition_required }
    }

    /// Adds a stateless operator producing `(K2, V2)` records.
    fn transform<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        kind: &str,
        key_serde: SerdeRef<K2>,
        value_serde: SerdeRef<V2>,
        rekeys: bool,
        f: Transform<K, V, K2, V2>,
    ) -> KStream<K2, V2> {
        let (id, name) = self.builder.name(kind);
        let out: Node<K2, V2> = Node::new(id, self.node.group);
        self.builder.describe(self.node.group, format!("Processor: {name}"));
        let o = out.clone();
        self.node.add_child(Arc::new(move |b| {
            Ok(Box::new(Stateless { f: f.clone(), buf: Vec::new(), down: o.downstream(b)? })
                as Box<dyn Processor<K, V>>)
        }));
        KStream::new(self.builder.clone(), out, key_serde, value_serde, self.repartition_required || rekeys)
    }

    /// Keeps records for which `predicate` holds.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        self.transform(
            "KSTREAM-FILTER",
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            Arc::new(move |r, out| {
                if predicate(&r.key, &r.value) {
                    out.push(r)
                }
            }),
        )
    }

    /// Drops records for which `predicate` holds.
    pub fn filter_not(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Replaces key and value. Marks the stream for repartitioning before grouping or joins.
    pub fn map<K2: Data, V2: Data>(
        &self,
        f: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        self.transform(
            "KSTREAM-MAP",
            K2::serde(),
            V2::serde(),
            true,
            Arc::new(move |r, out| {
                let (k, v) = f(r.key, r.value);
                out.push(Record { key: k, value: v, timestamp: r.timestamp, headers: r.headers });
            }),
        )
    }

    /// Replaces the value; the key (and partitioning) stays.
    pub fn map_values<V2: Data>(&self, f: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2> {
        self.map_values_with_key(move |_, v| f(v))
    }

    /// Replaces the value, seeing the key.
    pub fn map_values_with_key<V2: Data>(
        &self,
        f: impl Fn(&K, V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        self.transform(
            "KSTREAM-MAPVALUES",
            self.key_serde.clone(),
            V2::serde(),
            false,
            Arc::new(move |r, out| {
                let v = f(&r.key, r.value);
                out.push(Record { key: r.key, value: v, timestamp: r.timestamp, headers: r.headers });
            }),
        )
    }

    /// Turns each record into zero or more records with new keys and values.
    pub fn flat_map<K2: Data, V2: Data, I>(
        &self,
        f: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
    {
        self.transform(
            "KSTREAM-FLATMAP",
            K2::serde(),
            V2::serde(),
            true,
            Arc::new(move |r, out| {
                for (k, v) in f(r.key, r.value) {
                    out.push(Record { key: k, value: v, timestamp: r.timestamp, headers: r.headers.clone() });
                }
            }),
        )
    }

    /// Turns each value into zero or more values under the same key.
    pub fn flat_map_values<V2: Data, I>(&self, f: impl Fn(V) -> I + Send + Sync + 'static) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
    {
        self.transform(
            "KSTREAM-FLATMAPVALUES",
            self.key_serde.clone(),
            V2::serde(),
            false,
            Arc::new(move |r, out| {
                for v in f(r.value) {
                    out.push(Record {
                        key: r.key.clone(),
                        value: v,
                        timestamp: r.timestamp,
                        headers: r.headers.clone(),
                    });
                }
            }),
        )
    }

    /// Sets a new key computed from key and value.
    pub fn select_key<K2: Data>(&self, f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static) -> KStream<K2, V> {
        self.transform(
            "KSTREAM-KEY-SELECT",
            K2::serde(),
            self.value_serde.clone(),
            true,
            Arc::new(move |r, out| {
                let k = f(&r.key, &r.value);
                out.push(Record { key: k, value: r.value, timestamp: r.timestamp, headers: r.headers });
            }),
        )
    }

    /// Sees each record without changing it.
    pub fn peek(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        self.transform(
            "KSTREAM-PEEK",
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            Arc::new(move |r, out| {
                f(&r.key, &r.value);
                out.push(r);
            }),
        )
    }

    /// Calls `f` for each record (terminal operation).
    pub fn foreach(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) {
        let (_, name) = self.builder.name("KSTREAM-FOREACH");
        self.builder.describe(self.node.group, format!("Processor: {name}"));
        let f: Visitor<K, V> = Arc::new(f);
        self.node.add_child(Arc::new(move |_| {
            Ok(Box::new(ForEach { f: f.clone(), _p: PhantomData }) as Box<dyn Processor<K, V>>)
        }));
    }

    /// Splits the stream by predicates: a record goes to the first branch whose predicate
    /// holds, or to the default branch (Kafka Streams' `split().branch(…).defaultBranch()`).
    pub fn split(&self) -> Branch<K, V> {
        Branch { stream: self.clone(), predicates: Vec::new() }
    }

    /// Interleaves this stream with another of the same types.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let group = self.builder.unite(self.node.group, other.node.group);
        let (id, name) = self.builder.name("KSTREAM-MERGE");
        let out: Node<K, V> = Node::new(id, group);
        self.builder.describe(group, format!("Processor: {name}"));
        for input in [&self.node, &other.node] {
            let o = out.clone();
            input.add_child(Arc::new(move |b| {
                Ok(Box::new(Forward(o.downstream(b)?)) as Box<dyn Processor<K, V>>)
            }));
        }
        KStream::new(
            self.builder.clone(),
            out,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required || other.repartition_required,
        )
    }

    /// Writes the stream to `topic` with the stream's serdes.
    pub fn to(&self, topic: &str) {
        self.to_with(topic, self.key_serde.clone(), self.value_serde.clone());
    }

    /// Writes the stream to `topic` with explicit serdes.
    pub fn to_with(&self, topic: &str, key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) {
        let (_, name) = self.builder.name("KSTREAM-SINK");
        self.builder.describe(self.node.group, format!("Sink: {name} (topic: {topic})"));
        self.builder.add_sink(self.node.group, topic);
        let t = topic.to_string();
        self.node.add_child(Arc::new(move |b| {
            Ok(Box::new(Sink {
                topic: b.topic_name(&t),
                key_serde: key_serde.clone(),
                value_serde: value_serde.clone(),
            }) as Box<dyn Processor<K, V>>)
        }));
    }

    /// Sends the stream through an internal topic partitioned by the current key, so that
    /// records with the same key meet in the same task.
    pub fn repartition(&self) -> KStream<K, V> {
        let (id, _) = self.builder.name("KSTREAM-REPARTITION");
        self.through_internal(&format!("KSTREAM-REPARTITION-{id:010}-repartition"))
    }

    pub(crate) fn through_internal(&self, suffix: &str) -> KStream<K, V> {
        self.builder.add_internal_topic(InternalTopic {
            suffix: suffix.to_string(),
            partitions: None,
            config: vec![("retention.ms".into(), "-1".into())],
        });
        let topic = format!("{INTERNAL_PREFIX}{suffix}");
        self.to(&topic);
        let mut s = self.builder.stream_with(&topic, self.key_serde.clone(), self.value_serde.clone());
        s.repartition_required = false;
        s
    }

    /// The stream itself if keys are still partitioned as in the source, else repartitioned.
    pub(crate) fn partitioned(&self) -> KStream<K, V> {
        if self.repartition_required { self.repartition() } else { self.clone() }
    }

    /// Groups by the current key (repartitioning first if the key was changed).
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.partitioned())
    }

    /// Groups by a new key computed from each record.
    pub fn group_by<K2: Data>(
        &self,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KGroupedStream<K2, V> {
        KGroupedStream::new(self.select_key(f).repartition())
    }

    /// Inner stream-stream join: pairs of records with equal keys whose timestamps are within
    /// the join window of each other.
    pub fn join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        join::stream_stream(self, other, windows, join::JoinKind::Inner, move |l, r| Some(joiner(l?, r?)))
    }

    /// Left stream-stream join: every left record is emitted, with `None` when no right record
    /// joined within the window (emitted once the window has closed).
    pub fn left_join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        join::stream_stream(self, other, windows, join::JoinKind::Left, move |l, r| Some(joiner(l?, r)))
    }

    /// Outer stream-stream join: unmatched records of either side are emitted with `None` for
    /// the other side once their window has closed.
    pub fn outer_join<V2: Clone + 'static, VR: Data>(
        &self,
        other: &KStream<K, V2>,
        joiner: impl Fn(Option<&V>, Option<&V2>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
    ) -> KStream<K, VR> {
        join::stream_stream(self, other, windows, join::JoinKind::Outer, move |l, r| Some(joiner(l, r)))
    }

    /// Inner stream-table join: each stream record is joined with the table's current value
    /// for its key; records without one are dropped.
    pub fn join_table<V2: Clone + 'static, VR: Data>(
        &self,
        table: &KTable<K, V2>,
        joiner: impl Fn(&V, &V2) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        join::stream_table(self, table, false, move |v, t| t.map(|t| joiner(v, t)))
    }

    /// Left stream-table join: every stream record is emitted, with `None` when the table has
    /// no value for its key.
    pub fn left_join_table<V2: Clone + 'static, VR: Data>(
        &self,
        table: &KTable<K, V2>,
        joiner: impl Fn(&V, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        join::stream_table(self, table, true, move |v, t| Some(joiner(v, t)))
    }

    /// The topology node (for extensions in this crate).
    pub(crate) fn node(&self) -> &Node<K, V> {
        &self.node
    }
}

/// Builder of [`KStream::split`] branches.
pub struct Branch<K, V> {
    stream: KStream<K, V>,
    predicates: Vec<Predicate<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Branch<K, V> {
    /// Adds a branch taking records for which `predicate` holds (and no earlier one did).
    pub fn branch(mut self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// The branches in order, plus a last one for records no predicate took.
    pub fn default_branch(self) -> Vec<KStream<K, V>> {
        let n = self.predicates.len();
        let preds = Arc::new(self.predicates);
        (0..=n)
            .map(|i| {
                let preds = preds.clone();
                self.stream.filter(move |k, v| {
                    let first = preds.iter().position(|p| p(k, v)).unwrap_or(n);
                    first == i
                })
            })
            .collect()
    }

    /// The branches in order; records no predicate took are dropped.
    pub fn no_default_branch(self) -> Vec<KStream<K, V>> {
        let mut v = self.default_branch();
        v.pop();
        v
    }
}
