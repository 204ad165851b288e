//! [`StreamsBuilder`]: records the DSL graph and turns it into a [`Topology`].
//!
//! Every operator gets a Kafka Streams-style name (`KSTREAM-FILTER-0000000003`) and belongs to
//! a *group*. Sources start new groups; operators with two inputs (merge, joins) unite their
//! inputs' groups; a repartition topic ends one group and its source starts another. At
//! [`StreamsBuilder::build`], each group that contains sources becomes a sub-topology.

use std::sync::Arc;

use parking_lot::Mutex;

use super::Data;
use super::kstream::KStream;
use super::ktable::{KTable, TableSource};
use super::node::{Downstream, Node, Processor};
use crate::error::{Error, Result};
use crate::record::{InputRecord, Record};
use crate::serde::SerdeRef;
use crate::task::{RecordMeta, TaskBuilder, TaskContext};
use crate::topology::{InternalTopic, SubTopology, TaskProcessor, Topology};

/// Entry point of a source topic into a task: decodes raw records.
pub(crate) trait RawProcessor {
    fn process_raw(&mut self, record: &InputRecord, ctx: &mut TaskContext) -> Result<()>;
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()>;
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()>;
}

pub(crate) type RawFactory = Arc<dyn Fn(&mut TaskBuilder<'_>) -> Result<Box<dyn RawProcessor>> + Send + Sync>;

struct SourceDef {
    topic: String,
    group: usize,
    factory: RawFactory,
}

#[derive(Default)]
pub(crate) struct GraphState {
    next_id: usize,
    parent: Vec<usize>,
    sources: Vec<SourceDef>,
    descriptions: Vec<(usize, String)>,
    sinks: Vec<(usize, String)>,
    stores: Vec<(usize, String)>,
    internal: Vec<InternalTopic>,
}

impl GraphState {
    fn find(&mut self, mut g: usize) -> usize {
        while self.parent[g] != g {
            self.parent[g] = self.parent[self.parent[g]];
            g = self.parent[g];
        }
        g
    }
}

/// Builds a topology with the DSL. Cheap to clone; clones share the graph.
#[derive(Clone, Default)]
pub struct StreamsBuilder {
    pub(crate) graph: Arc<Mutex<GraphState>>,
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates a node id and its Kafka Streams-style name.
    pub(crate) fn name(&self, kind: &str) -> (usize, String) {
        let mut g = self.graph.lock();
        let id = g.next_id;
        g.next_id += 1;
        (id, format!("{kind}-{id:010}"))
    }

    /// A new group (for sources).
    pub(crate) fn new_group(&self) -> usize {
        let mut g = self.graph.lock();
        let id = g.parent.len();
        g.parent.push(id);
        id
    }

    /// Merges two groups (for operators with two inputs); returns the merged group.
    pub(crate) fn unite(&self, a: usize, b: usize) -> usize {
        let mut g = self.graph.lock();
        let (ra, rb) = (g.find(a), g.find(b));
        if ra != rb {
            g.parent[rb] = ra;
        }
        ra
    }

    pub(crate) fn describe(&self, group: usize, line: String) {
        self.graph.lock().descriptions.push((group, line));
    }

    pub(crate) fn add_sink(&self, group: usize, topic: &str) {
        self.graph.lock().sinks.push((group, topic.to_string()));
    }

    pub(crate) fn add_store(&self, group: usize, store: &str) {
        self.graph.lock().stores.push((group, store.to_string()));
    }

    pub(crate) fn add_internal_topic(&self, topic: InternalTopic) {
        let mut g = self.graph.lock();
        if !g.internal.iter().any(|t| t.suffix == topic.suffix) {
            g.internal.push(topic);
        }
    }

    pub(crate) fn add_source(&self, topic: &str, group: usize, factory: RawFactory) {
        self.graph.lock().sources.push(SourceDef { topic: topic.to_string(), group, factory });
    }

    /// A stream of the records of `topic`, with the types' default serdes.
    pub fn stream<K: Data, V: Data>(&self, topic: &str) -> KStream<K, V> {
        self.stream_with(topic, K::serde(), V::serde())
    }

    /// A stream of `topic` with explicit serdes.
    pub fn stream_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KStream<K, V> {
        self.stream_with_time(topic, key_serde, value_serde, None)
    }

    /// A stream whose event time comes from the records (a timestamp extractor) instead of
    /// the Kafka record timestamp.
    pub fn stream_with_timestamps<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        extractor: impl Fn(&K, &V, i64) -> i64 + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.stream_with_time(topic, key_serde, value_serde, Some(Arc::new(extractor)))
    }

    fn stream_with_time<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        extractor: Option<TimestampExtractor<K, V>>,
    ) -> KStream<K, V> {
        let group = self.new_group();
        let (id, name) = self.name("KSTREAM-SOURCE");
        let node: Node<K, V> = Node::new(id, group);
        self.describe(group, format!("Source: {name} (topics: [{topic}])"));
        let (n, ks, vs, t) = (node.clone(), key_serde.clone(), value_serde.clone(), topic.to_string());
        self.add_source(
            topic,
            group,
            Arc::new(move |b| {
                Ok(Box::new(StreamSource {
                    topic: t.clone(),
                    key_serde: ks.clone(),
                    value_serde: vs.clone(),
                    extractor: extractor.clone(),
                    downstream: n.downstream(b)?,
                }))
            }),
        );
        KStream::new(self.clone(), node, key_serde, value_serde, false)
    }

    /// A table with changelog semantics over `topic`: the latest value per key, a null value
    /// deletes the key. Materialized in a state store.
    pub fn table<K: Data, V: Data>(&self, topic: &str) -> KTable<K, V> {
        self.table_with(topic, K::serde(), V::serde())
    }

    /// A table over `topic` with explicit serdes.
    pub fn table_with<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KTable<K, V> {
        let group = self.new_group();
        let (id, name) = self.name("KTABLE-SOURCE");
        let store = format!("{topic}-STATE-STORE-{id:010}");
        let node = Node::new(id, group);
        self.describe(group, format!("Source: {name} (topics: [{topic}]) materialized in {store}"));
        self.add_store(group, &store);
        let (n, ks, vs, st, t) =
            (node.clone(), key_serde.clone(), value_serde.clone(), store.clone(), topic.to_string());
        self.add_source(
            topic,
            group,
            Arc::new(move |b| {
                Ok(Box::new(TableSource::new(
                    t.clone(),
                    ks.clone(),
                    vs.clone(),
                    b.store(&st)?,
                    n.downstream(b)?,
                )))
            }),
        );
        KTable::new(self.clone(), node, key_serde, value_serde, Some(store))
    }

    /// Finishes the graph into a topology.
    pub fn build(&self) -> Result<Topology> {
        let mut g = self.graph.lock();
        if g.sources.is_empty() {
            return Err(Error::Topology("the topology has no source; call stream() or table()".into()));
        }
        let mut roots: Vec<usize> = Vec::new();
        for i in 0..g.sources.len() {
            let grp = g.sources[i].group;
            let r = g.find(grp);
            if !roots.contains(&r) {
                roots.push(r);
            }
        }
        let mut subtopologies = Vec::new();
        for (sid, &root) in roots.iter().enumerate() {
            let mut topics: Vec<String> = Vec::new();
            let mut entries: Vec<(usize, RawFactory)> = Vec::new();
            for i in 0..g.sources.len() {
                let grp = g.sources[i].group;
                if g.find(grp) != root {
                    continue;
                }
                let topic = g.sources[i].topic.clone();
                let idx = match topics.iter().position(|t| *t == topic) {
                    Some(i) => i,
                    None => {
                        topics.push(topic);
                        topics.len() - 1
                    }
                };
                entries.push((idx, g.sources[i].factory.clone()));
            }
            let (d, si, st) = (g.descriptions.clone(), g.sinks.clone(), g.stores.clone());
            let mut pick = |items: Vec<(usize, String)>| -> Vec<String> {
                let mut out: Vec<String> = Vec::new();
                for (grp, s) in items {
                    if g.find(grp) == root && !out.contains(&s) {
                        out.push(s);
                    }
                }
                out
            };
            let description = pick(d);
            let sinks = pick(si);
            let stores = pick(st);
            let n_topics = topics.len();
            let entries = Arc::new(entries);
            subtopologies.push(SubTopology {
                id: sid,
                sources: topics,
                sinks,
                stores,
                description,
                factory: Arc::new(move |b| {
                    let mut per_source: Vec<Vec<Box<dyn RawProcessor>>> =
                        (0..n_topics).map(|_| Vec::new()).collect();
                    for (idx, f) in entries.iter() {
                        per_source[*idx].push(f(b)?);
                    }
                    Ok(Box::new(DslTask { per_source }) as Box<dyn TaskProcessor>)
                }),
            });
        }
        Ok(Topology { subtopologies, internal_topics: g.internal.clone(), callbacks: Vec::new() })
    }
}

/// Event-time extraction: `(key, value, record timestamp) → event time`.
pub(crate) type TimestampExtractor<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

/// The task processor built from the DSL: dispatches raw records to source nodes.
struct DslTask {
    per_source: Vec<Vec<Box<dyn RawProcessor>>>,
}

impl TaskProcessor for DslTask {
    fn process(&mut self, source: usize, records: &[InputRecord], ctx: &mut TaskContext) -> Result<()> {
        let Some(procs) = self.per_source.get_mut(source) else {
            return Err(Error::Topology(format!("no source with index {source}")));
        };
        for r in records {
            ctx.current = RecordMeta {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
            };
            for p in procs.iter_mut() {
                p.process_raw(r, ctx)?;
            }
        }
        Ok(())
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        for p in self.per_source.iter_mut().flatten() {
            p.advance(watermark, ctx)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        for p in self.per_source.iter_mut().flatten() {
            p.flush(ctx)?;
        }
        Ok(())
    }
}

/// Decodes a stream topic's records and pushes them into the DSL.
struct StreamSource<K, V> {
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    extractor: Option<TimestampExtractor<K, V>>,
    downstream: Downstream<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> RawProcessor for StreamSource<K, V> {
    fn process_raw(&mut self, r: &InputRecord, ctx: &mut TaskContext) -> Result<()> {
        let key = match self.key_serde.deserialize(r.key.as_deref()) {
            Ok(k) => k,
            Err(e) => {
                ctx.skip(&self.topic, format!("bad key: {e}"));
                return Ok(());
            }
        };
        let value = match self.value_serde.deserialize(r.value.as_deref()) {
            Ok(v) => v,
            Err(e) => {
                ctx.skip(&self.topic, format!("bad value: {e}"));
                return Ok(());
            }
        };
        let timestamp = match &self.extractor {
            Some(f) => f(&key, &value, r.timestamp),
            None => r.timestamp,
        };
        ctx.observe_time(timestamp);
        let rec = Record { key, value, timestamp, headers: r.headers.clone() };
        self.downstream.borrow_mut().process(rec, ctx)
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.downstream.borrow_mut().advance(watermark, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.downstream.borrow_mut().flush(ctx)
    }
}
