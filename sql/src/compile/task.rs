//! [`SqlTask`]: the `TaskProcessor` of a compiled sub-topology — decoders for its sources and
//! the operator graph, instantiated per task with the task's stores.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use brook_streams::record::InputRecord;
use brook_streams::task::{TaskBuilder, TaskContext};
use brook_streams::topology::{SubTopology, TaskProcessor};

use super::{AggregateSpec, CompileOptions, NodeSpec, SubSpec};
use crate::error::{Error, Result};
use crate::operator::aggregate::AggregateOp;
use crate::operator::log::{LateLog, ProcessingLog};
use crate::operator::repartition::{RowSource, converter};
use crate::operator::retract::RetractOp;
use crate::operator::session::SessionAggregateOp;
use crate::operator::sink::{CallbackSink, DiscardSink, RepartitionSink, TopicSink};
use crate::operator::source::SourceDecoder;
use crate::operator::stateless::{FilterOp, ProjectOp};
use crate::operator::{Down, OpRef};
use crate::parser::WindowKind;

enum Leaf {
    Source(SourceDecoder),
    Rows(RowSource),
}

/// The processors of one task.
pub(crate) struct SqlTask {
    /// Per source index: the leaves reading it and where their batches go.
    inputs: Vec<Vec<(Leaf, Down)>>,
    /// Every operator, upstream first.
    ops: Vec<OpRef>,
}

fn to_streams(e: Error) -> brook_streams::Error {
    match e {
        Error::Streams(s) => s,
        other => brook_streams::Error::Processing { operator: "sql".into(), reason: other.to_string() },
    }
}

impl TaskProcessor for SqlTask {
    fn process(
        &mut self,
        source: usize,
        records: &[InputRecord],
        ctx: &mut TaskContext,
    ) -> brook_streams::Result<()> {
        let Some(leaves) = self.inputs.get_mut(source) else {
            return Err(brook_streams::Error::Topology(format!("no source with index {source}")));
        };
        for (leaf, down) in leaves.iter_mut() {
            let batch = match leaf {
                Leaf::Source(d) => d.decode(records, ctx),
                Leaf::Rows(r) => r.decode(records),
            }
            .map_err(to_streams)?;
            if let Some(b) = batch {
                down.send(b, ctx).map_err(to_streams)?;
            }
        }
        Ok(())
    }

    fn advance(&mut self, _watermark: i64, ctx: &mut TaskContext) -> brook_streams::Result<()> {
        for op in &self.ops {
            op.borrow_mut().advance(ctx).map_err(to_streams)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> brook_streams::Result<()> {
        for op in &self.ops {
            op.borrow_mut().flush(ctx).map_err(to_streams)?;
        }
        Ok(())
    }
}

/// Instantiates the operators of `spec` for one task, with the task's stores: every
/// operator from the last to the first (so each one's downstream exists when it is made),
/// then the source leaves wired to what they feed.
fn instantiate(spec: &SubSpec, b: &mut TaskBuilder<'_>, log: &ProcessingLog) -> Result<SqlTask> {
    let n = spec.nodes.len();
    let mut ops: Vec<Option<OpRef>> = vec![None; n];
    let mut leaves: Vec<Option<(usize, Leaf)>> = (0..n).map(|_| None).collect();
    for i in (0..n).rev() {
        let (node, down) = &spec.nodes[i];
        let down = match down {
            Some((to, port)) => Some(Down {
                op: ops[*to]
                    .clone()
                    .ok_or_else(|| Error::Internal(format!("operator {to} feeds nothing")))?,
                port: *port,
            }),
            None => None,
        };
        match node {
            NodeSpec::Scan { source, schema } => {
                let idx = spec.sources.iter().position(|t| *t == source.topic).unwrap_or(0);
                leaves[i] = Some((idx, Leaf::Source(SourceDecoder::new(source, schema, log.clone())?)));
            }
            NodeSpec::Rows { topic, schema } => {
                let idx = spec.sources.iter().position(|t| t == topic).unwrap_or(0);
                leaves[i] = Some((idx, Leaf::Rows(RowSource::new(schema.clone())?)));
            }
            _ => ops[i] = Some(operator(node, down, b, log)?),
        }
    }
    let mut inputs: Vec<Vec<(Leaf, Down)>> = (0..spec.sources.len()).map(|_| Vec::new()).collect();
    for (i, leaf) in leaves.into_iter().enumerate() {
        if let Some((src, leaf)) = leaf {
            let (to, port) =
                spec.nodes[i].1.ok_or_else(|| Error::Internal("a source feeds nothing".into()))?;
            let op = ops[to].clone().ok_or_else(|| Error::Internal("a source feeds a source".into()))?;
            inputs[src].push((leaf, Down { op, port }));
        }
    }
    Ok(SqlTask { inputs, ops: ops.into_iter().flatten().collect() })
}

/// The operator of a node that is not a source leaf, sending to `down` (sinks have none).
fn operator(
    node: &NodeSpec,
    down: Option<Down>,
    b: &mut TaskBuilder<'_>,
    log: &ProcessingLog,
) -> Result<OpRef> {
    let need = |d: Option<Down>| d.ok_or_else(|| Error::Internal("an operator has no downstream".into()));
    Ok(match node {
        NodeSpec::Scan { .. } | NodeSpec::Rows { .. } => {
            return Err(Error::Internal("a source is not an operator".into()));
        }
        NodeSpec::Filter { predicate, tombstone } => Rc::new(RefCell::new(FilterOp {
            predicate: predicate.clone(),
            tombstone: *tombstone,
            log: log.clone(),
            down: need(down)?,
        })),
        NodeSpec::Project { exprs, schema } => Rc::new(RefCell::new(ProjectOp {
            exprs: exprs.clone(),
            schema: schema.clone(),
            log: log.clone(),
            down: need(down)?,
        })),
        NodeSpec::Retract { groups, value_types, key_types, store, schema } => {
            Rc::new(RefCell::new(RetractOp::new(
                *groups,
                value_types.clone(),
                key_types.clone(),
                schema.clone(),
                b.store(store)?,
                need(down)?,
            )?))
        }
        NodeSpec::Aggregate(a) => aggregate(a, b, log, need(down)?)?,
        NodeSpec::Join(j) => crate::operator::join::instantiate(j, b, log, need(down)?)?,
        NodeSpec::TopicSink(t) => Rc::new(RefCell::new(TopicSink {
            topic: t.topic.clone(),
            key_cols: t.key_cols.clone(),
            value_cols: t.value_cols.clone(),
            header_cols: t.header_cols.clone(),
            key: t.key.encoder()?,
            value: t.value.encoder()?,
            rowtime: t.rowtime,
            window: t.window,
            tombstone: t.tombstone,
        })),
        NodeSpec::CallbackSink { name, columns, rowtime, tombstone } => Rc::new(RefCell::new(CallbackSink {
            name: name.clone(),
            columns: columns.clone(),
            rowtime: *rowtime,
            tombstone: *tombstone,
        })),
        NodeSpec::RepartitionSink { topic, keys, key_codec, schema, rowtime } => {
            Rc::new(RefCell::new(RepartitionSink {
                topic: b.topic_name(topic),
                keys: keys.clone(),
                key: key_codec.encoder()?,
                rows: converter(schema)?,
                rowtime: *rowtime,
            }))
        }
        NodeSpec::DiscardSink { rows } => Rc::new(RefCell::new(DiscardSink { rows: rows.clone() })),
    })
}

/// An aggregate operator with its stores: session windows merge sessions (and keep them by
/// time as well), other aggregates keep one row per group (and window).
fn aggregate(a: &AggregateSpec, b: &mut TaskBuilder<'_>, log: &ProcessingLog, down: Down) -> Result<OpRef> {
    let meta = b.store(&format!("{}-meta", a.store))?;
    let store = b.store(&a.store)?;
    Ok(match a.window.map(|w| w.kind) {
        Some(WindowKind::Session { gap }) => {
            let by_time = b.store(&format!("{}-time", a.store))?;
            Rc::new(RefCell::new(SessionAggregateOp::new(
                a.group_count,
                a.group_types.clone(),
                a.aggs.clone(),
                gap,
                a.window.map_or(0, |w| w.grace),
                a.emit_final,
                a.schema.clone(),
                store,
                by_time,
                meta,
                LateLog::new(log.clone(), "session aggregate"),
                down,
            )?))
        }
        _ => Rc::new(RefCell::new(AggregateOp::new(
            a.group_count,
            a.group_types.clone(),
            a.aggs.clone(),
            a.window,
            a.emit_final,
            a.retractions,
            a.schema.clone(),
            store,
            meta,
            LateLog::new(log.clone(), "aggregate"),
            down,
        )?)),
    })
}

/// The sub-topology of a compiled spec.
pub(crate) fn subtopology(id: usize, spec: SubSpec, opts: CompileOptions) -> SubTopology {
    let spec = Arc::new(spec);
    let log = ProcessingLog {
        query_id: Arc::from(opts.query_id.as_str()),
        topic: Arc::from(opts.processing_log_topic.as_str()),
    };
    let s = spec.clone();
    SubTopology {
        id,
        sources: spec.sources.clone(),
        sinks: spec.sinks.clone(),
        stores: spec.stores.clone(),
        description: spec.description.clone(),
        factory: Arc::new(move |b: &mut TaskBuilder<'_>| {
            let task = instantiate(&s, b, &log).map_err(to_streams)?;
            Ok(Box::new(task) as Box<dyn TaskProcessor>)
        }),
    }
}
