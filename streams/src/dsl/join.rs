//! Wiring of joins into the DSL graph (the processors are in `crate::operator::join` and
//! `crate::operator::fk_join`). Both inputs of a join end up in one sub-topology, so they must
//! be co-partitioned; inputs whose key changed are repartitioned first.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::Data;
use super::kstream::KStream;
use super::ktable::{Change, KTable};
use super::node::{Node, Processor};
use crate::operator::ValueJoiner;
use crate::operator::fk_join::{FkLeftChanges, FkResponses, FkRightChanges, FkSubscriptions};
use crate::operator::join::{
    LeftInput, RightInput, SharedJoin, StreamStreamJoin, StreamTableJoin, TableTableJoinSide,
};
use crate::serde::serdes;
use crate::state::SharedStore;
use crate::state::join_buffer::{JoinBuffer, initial_sequence, join_horizon};
use crate::state::session::KeyTimeStore;
use crate::topology::{INTERNAL_PREFIX, InternalTopic};

pub(crate) use crate::operator::join::JoinKind;

/// How far apart in time two records may be to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    /// A left record at `t` joins right records from `t - before` …
    pub before: i64,
    /// … to `t + after`.
    pub after: i64,
    /// How long after the window a late record is still accepted.
    pub grace: i64,
}

impl JoinWindows {
    /// Records within `ms` of each other, either way, no grace.
    pub fn of_time_difference(ms: i64) -> Self {
        JoinWindows { before: ms.max(0), after: ms.max(0), grace: 0 }
    }

    /// Sets the grace period.
    pub fn grace(mut self, ms: i64) -> Self {
        self.grace = ms.max(0);
        self
    }

    /// Sets how far back (for left records) the window reaches.
    pub fn before(mut self, ms: i64) -> Self {
        self.before = ms.max(0);
        self
    }

    /// Sets how far forward the window reaches.
    pub fn after(mut self, ms: i64) -> Self {
        self.after = ms.max(0);
        self
    }
}

pub(crate) fn stream_stream<K, V1, V2, VR>(
    left: &KStream<K, V1>,
    right: &KStream<K, V2>,
    windows: JoinWindows,
    kind: JoinKind,
    joiner: impl Fn(Option<&V1>, Option<&V2>) -> Option<VR> + Send + Sync + 'static,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V1: Clone + 'static,
    V2: Clone + 'static,
    VR: Data,
{
    let (left, right) = (left.partitioned(), right.partitioned());
    let b = left.builder.clone();
    let group = b.unite(left.node.group, right.node.group);
    let (id, name) = b.name(match kind {
        JoinKind::Inner => "KSTREAM-JOIN",
        JoinKind::Left => "KSTREAM-LEFTJOIN",
        JoinKind::Outer => "KSTREAM-OUTERJOIN",
    });
    let stores: Vec<String> =
        ["this-buffer", "other-buffer", "this-open", "other-open", "this-open-idx", "other-open-idx"]
            .iter()
            .map(|s| format!("{name}-{s}-store"))
            .collect();
    for s in &stores {
        b.add_store(group, s);
    }
    b.describe(
        group,
        format!(
            "Processor: {name} (window: -{}ms/+{}ms, grace {}ms)",
            windows.before, windows.after, windows.grace
        ),
    );
    let out: Node<K, VR> = Node::new(id, group);
    let joiner: crate::operator::join::Joiner<V1, V2, VR> = Arc::new(joiner);
    let (ks, v1s, v2s, o, n) = (
        left.key_serde.clone(),
        left.value_serde.clone(),
        right.value_serde.clone(),
        out.clone(),
        name.clone(),
    );
    let memo_key = id;
    // Both inputs share one join state per task; the first side built creates it.
    let build_state = Arc::new(
        move |bld: &mut crate::task::TaskBuilder<'_>| -> crate::error::Result<SharedJoin<K, V1, V2, VR>> {
            let slot = usize::MAX - memo_key;
            if let Some(s) = bld
                .memo
                .get(&slot)
                .and_then(|a| a.downcast_ref::<Rc<RefCell<StreamStreamJoin<K, V1, V2, VR>>>>())
            {
                return Ok(s.clone());
            }
            let segment =
                JoinBuffer::segment_interval(join_horizon(windows.before, windows.after, windows.grace));
            let mut buffer = |i: usize| -> crate::error::Result<JoinBuffer> {
                JoinBuffer::open(Box::new(SharedStore::new(bld.append_only_store(&stores[i])?)), segment)
            };
            let (left_buffer, right_buffer) = (buffer(0)?, buffer(1)?);
            let mut open = |i: usize| -> crate::error::Result<Box<dyn crate::state::KeyValueStore>> {
                Ok(Box::new(SharedStore::new(bld.store(&stores[i])?)))
            };
            let state = StreamStreamJoin {
                name: n.clone(),
                before: windows.before,
                after: windows.after,
                grace: windows.grace,
                kind,
                left: left_buffer,
                right: right_buffer,
                left_open: KeyTimeStore::new(open(2)?, open(4)?),
                right_open: KeyTimeStore::new(open(3)?, open(5)?),
                key_serde: ks.clone(),
                left_serde: v1s.clone(),
                right_serde: v2s.clone(),
                joiner: joiner.clone(),
                observed: i64::MIN,
                seq: initial_sequence(),
                down: o.downstream(bld)?,
            };
            let shared = Rc::new(RefCell::new(state));
            bld.memo.insert(slot, Box::new(shared.clone()));
            Ok(shared)
        },
    );
    let bs = build_state.clone();
    left.node.add_child(Arc::new(move |bld| Ok(Box::new(LeftInput(bs(bld)?)) as Box<dyn Processor<K, V1>>)));
    right.node.add_child(Arc::new(move |bld| {
        Ok(Box::new(RightInput(build_state(bld)?)) as Box<dyn Processor<K, V2>>)
    }));
    KStream::new(b, out, left.key_serde.clone(), VR::serde(), false)
}

pub(crate) fn stream_table<K, V, VT, VR>(
    stream: &KStream<K, V>,
    table: &KTable<K, VT>,
    _left: bool,
    joiner: impl Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync + 'static,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VT: Clone + 'static,
    VR: Data,
{
    let stream = stream.partitioned();
    let table = table.materialize();
    let b = stream.builder.clone();
    let group = b.unite(stream.node.group, table.node.group);
    let (id, name) = b.name("KSTREAM-TABLE-JOIN");
    let store = table.store.clone().unwrap_or_default();
    b.describe(group, format!("Processor: {name} (table store: {store})"));
    let out: Node<K, VR> = Node::new(id, group);
    let joiner: ValueJoiner<V, VT, VR> = Arc::new(joiner);
    let (ks, ts, o) = (stream.key_serde.clone(), table.value_serde.clone(), out.clone());
    stream.node.add_child(Arc::new(move |bld| {
        Ok(Box::new(StreamTableJoin {
            name: name.clone(),
            table: bld.store(&store)?,
            key_serde: ks.clone(),
            table_serde: ts.clone(),
            joiner: joiner.clone(),
            down: o.downstream(bld)?,
        }) as Box<dyn Processor<K, V>>)
    }));
    KStream::new(b, out, stream.key_serde.clone(), VR::serde(), false)
}

pub(crate) fn table_table<K, V1, V2, VR>(
    left: &KTable<K, V1>,
    right: &KTable<K, V2>,
    joiner: impl Fn(Option<&V1>, Option<&V2>) -> Option<VR> + Send + Sync + 'static,
) -> KTable<K, VR>
where
    K: Clone + 'static,
    V1: Clone + 'static,
    V2: Clone + 'static,
    VR: Data,
{
    let (left, right) = (left.materialize(), right.materialize());
    let b = left.builder.clone();
    let group = b.unite(left.node.group, right.node.group);
    let (id, name) = b.name("KTABLE-JOIN");
    b.describe(group, format!("Processor: {name}"));
    let out: Node<K, Change<VR>> = Node::new(id, group);
    let joiner = Arc::new(joiner);
    let (ls, rs) = (left.store.clone().unwrap_or_default(), right.store.clone().unwrap_or_default());
    let (ks, v1s, v2s) = (left.key_serde.clone(), left.value_serde.clone(), right.value_serde.clone());
    {
        let (o, j, n, ks, v2s, rs) =
            (out.clone(), joiner.clone(), name.clone(), ks.clone(), v2s.clone(), rs.clone());
        left.node.add_child(Arc::new(move |bld| {
            let j = j.clone();
            Ok(Box::new(TableTableJoinSide {
                name: n.clone(),
                is_left: true,
                other: bld.store(&rs)?,
                key_serde: ks.clone(),
                other_serde: v2s.clone(),
                joiner: Arc::new(move |this: Option<&V1>, other: Option<&V2>| j(this, other)),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, Change<V1>>>)
        }));
    }
    {
        let (o, j, n) = (out.clone(), joiner.clone(), name.clone());
        right.node.add_child(Arc::new(move |bld| {
            let j = j.clone();
            Ok(Box::new(TableTableJoinSide {
                name: n.clone(),
                is_left: false,
                other: bld.store(&ls)?,
                key_serde: ks.clone(),
                other_serde: v1s.clone(),
                joiner: Arc::new(move |this: Option<&V2>, other: Option<&V1>| j(other, this)),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, Change<V2>>>)
        }));
    }
    KTable::new(b, out, left.key_serde.clone(), VR::serde(), None)
}

pub(crate) fn foreign_key<K, V, KO, VO, VR>(
    left: &KTable<K, V>,
    right: &KTable<KO, VO>,
    fk: Arc<dyn Fn(&V) -> KO + Send + Sync>,
    joiner: ValueJoiner<V, VO, VR>,
) -> KTable<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KO: Data,
    VO: Clone + 'static,
    VR: Data,
{
    let (left, right) = (left.materialize(), right.materialize());
    let b = left.builder.clone();
    let (id, name) = b.name("KTABLE-FK-JOIN");
    let sub_suffix = format!("{name}-subscription-registration-topic");
    let resp_suffix = format!("{name}-subscription-response-topic");
    for s in [&sub_suffix, &resp_suffix] {
        b.add_internal_topic(InternalTopic { suffix: s.clone(), partitions: None, config: Vec::new() });
    }
    let sub_topic = format!("{INTERNAL_PREFIX}{sub_suffix}");
    let resp_topic = format!("{INTERNAL_PREFIX}{resp_suffix}");
    let results_store = format!("{name}-result-store");
    let subs_store = format!("{name}-subscription-store");
    let out: Node<K, Change<VR>> = Node::new(id, left.node.group);
    b.describe(left.node.group, format!("Processor: {name} (left side, sends to {sub_topic})"));
    b.add_store(left.node.group, &results_store);
    b.add_sink(left.node.group, &sub_topic);
    // Left changes → subscriptions.
    {
        let (o, n, t, ks, kos, fk, rs, vrs) = (
            out.clone(),
            name.clone(),
            sub_topic.clone(),
            left.key_serde.clone(),
            KO::serde(),
            fk.clone(),
            results_store.clone(),
            VR::serde(),
        );
        left.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(FkLeftChanges {
                name: n.clone(),
                subscription_topic: bld.topic_name(&t),
                key_serde: ks.clone(),
                fk_serde: kos.clone(),
                fk: fk.clone(),
                results: bld.store(&rs)?,
                result_serde: vrs.clone(),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<K, Change<V>>>)
        }));
    }
    // Right side: subscriptions topic joins the right table's sub-topology.
    let subs = b.stream_with(&sub_topic, serdes::bytes(), serdes::bytes());
    let right_group = b.unite(right.node.group, subs.node().group);
    b.describe(right_group, format!("Processor: {name} (right side, answers to {resp_topic})"));
    b.add_store(right_group, &subs_store);
    b.add_sink(right_group, &resp_topic);
    {
        let (n, t, ss, rstore) =
            (name.clone(), resp_topic.clone(), subs_store.clone(), right.store.clone().unwrap_or_default());
        subs.node().add_child(Arc::new(move |bld| {
            Ok(Box::new(FkSubscriptions {
                name: n.clone(),
                response_topic: bld.topic_name(&t),
                subscriptions: bld.store(&ss)?,
                right: bld.store(&rstore)?,
            }) as Box<dyn Processor<Bytes, Bytes>>)
        }));
    }
    {
        let (n, t, ss, kos, vos) =
            (name.clone(), resp_topic.clone(), subs_store.clone(), KO::serde(), right.value_serde.clone());
        right.node.add_child(Arc::new(move |bld| {
            Ok(Box::new(FkRightChanges {
                name: n.clone(),
                response_topic: bld.topic_name(&t),
                fk_serde: kos.clone(),
                right_serde: vos.clone(),
                subscriptions: bld.store(&ss)?,
            }) as Box<dyn Processor<KO, Change<VO>>>)
        }));
    }
    // Responses come back to the left table's sub-topology.
    let responses = b.stream_with(&resp_topic, serdes::bytes(), serdes::bytes());
    b.unite(left.node.group, responses.node().group);
    {
        let (o, n, ks, vs, kos, vos, lstore, rs, vrs) = (
            out.clone(),
            name.clone(),
            left.key_serde.clone(),
            left.value_serde.clone(),
            KO::serde(),
            right.value_serde.clone(),
            left.store.clone().unwrap_or_default(),
            results_store.clone(),
            VR::serde(),
        );
        responses.node().add_child(Arc::new(move |bld| {
            Ok(Box::new(FkResponses {
                name: n.clone(),
                key_serde: ks.clone(),
                value_serde: vs.clone(),
                fk_serde: kos.clone(),
                right_serde: vos.clone(),
                fk: fk.clone(),
                joiner: joiner.clone(),
                left: bld.store(&lstore)?,
                results: bld.store(&rs)?,
                result_serde: vrs.clone(),
                down: o.downstream(bld)?,
            }) as Box<dyn Processor<Bytes, Bytes>>)
        }));
    }
    KTable::new(b, out, left.key_serde.clone(), VR::serde(), Some(results_store))
}
