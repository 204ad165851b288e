//! Compiling a [`QueryPlan`] into a `brook_streams` [`Topology`] of batch operators (the
//! operators themselves live in [`crate::operator`]).
//!
//! The plan tree is cut at every `Repartition` into sub-topologies (upstream part ends in a
//! `sink::RepartitionSink` writing an internal topic; downstream part starts by reading it),
//! exactly like Kafka Streams. Each sub-topology becomes a `task::SqlTask` factory: per task,
//! it instantiates the operators with fresh state opened from the task's stores.
//!
//! ```text
//!  InputRecords ─► SourceDecoder ─► Filter ─► Project ─► Aggregate ─► Project ─► TopicSink ─► OutputRecords
//!                  (arrow-json)     (DataFusion PhysicalExprs)  (slots + store)     (key/value encoders)
//! ```

mod task;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use brook_streams::topology::{CallbackSink as CallbackFn, INTERNAL_PREFIX, InternalTopic, Topology};
use datafusion::arrow::datatypes::SchemaRef;

use crate::catalog::{Column, ColumnRole, SourceDef};
use crate::error::{Error, Result};
use crate::format::{Codec, Format};
use crate::functions::AggFunc;
use crate::parser::WindowKind;
use crate::planner::expr::PhysExpr;
use crate::planner::plan::{AggregateNode, JoinNode, JoinStrategy, PlanNode, RepartitionNode, RetractNode};
use crate::planner::schema::{FieldRole, RelSchema};
use crate::planner::{QueryPlan, WindowSpec};

pub use crate::operator::log::{PROCESSING_LOG_STREAM, PROCESSING_LOG_TOPIC, processing_log_source};
use crate::operator::{log, source};

/// A decoder of a source's records into batches of its schema (pull queries use it too).
pub(crate) fn source_decoder(
    def: &SourceDef,
    schema: &RelSchema,
    log: log::ProcessingLog,
) -> Result<source::SourceDecoder> {
    source::SourceDecoder::new(def, schema, log)
}

/// Where a compiled query's output goes.
pub enum Sink {
    /// A topic, encoded like the target stream or table.
    Topic {
        /// Topic name.
        topic: String,
        /// Key format.
        key_format: Format,
        /// Value format.
        value_format: Format,
        /// Whether a single value column is wrapped in an object.
        wrap_single_value: bool,
    },
    /// A callback receiving rows as JSON arrays (push queries).
    Callback {
        /// Sink name (unique per query).
        name: String,
        /// Receives each row.
        callback: CallbackFn,
    },
    /// Nowhere: rows are counted and dropped without being encoded (a blackhole, for
    /// benchmarks that measure a query rather than its output format).
    Discard {
        /// Incremented by the number of rows the query emits.
        rows: Arc<AtomicU64>,
    },
}

/// Compilation settings.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Query id (processing-log entries name it).
    pub query_id: String,
    /// Processing-log topic.
    pub processing_log_topic: String,
}

/// Specification of one operator, shared by every task of a sub-topology.
#[derive(Clone)]
pub(crate) enum NodeSpec {
    Scan {
        source: Arc<SourceDef>,
        schema: RelSchema,
    },
    Rows {
        topic: String,
        schema: SchemaRef,
    },
    Filter {
        predicate: PhysExpr,
        tombstone: Option<usize>,
    },
    Project {
        exprs: Vec<PhysExpr>,
        schema: SchemaRef,
    },
    Retract {
        groups: usize,
        value_types: Vec<datafusion::arrow::datatypes::DataType>,
        key_types: Vec<datafusion::arrow::datatypes::DataType>,
        store: String,
        schema: SchemaRef,
    },
    Aggregate(AggregateSpec),
    Join(Arc<JoinNode>),
    TopicSink(TopicSinkSpec),
    CallbackSink {
        name: String,
        columns: Vec<usize>,
        rowtime: usize,
        tombstone: Option<usize>,
    },
    RepartitionSink {
        topic: String,
        keys: Vec<PhysExpr>,
        key_codec: Codec,
        schema: SchemaRef,
        rowtime: usize,
    },
    DiscardSink {
        rows: Arc<AtomicU64>,
    },
}

#[derive(Clone)]
pub(crate) struct AggregateSpec {
    pub group_count: usize,
    pub group_types: Vec<datafusion::arrow::datatypes::DataType>,
    pub aggs: Vec<AggFunc>,
    pub window: Option<WindowSpec>,
    pub emit_final: bool,
    pub retractions: bool,
    pub store: String,
    pub schema: SchemaRef,
}

#[derive(Clone)]
pub(crate) struct TopicSinkSpec {
    pub topic: String,
    pub key_cols: Vec<usize>,
    pub value_cols: Vec<usize>,
    pub header_cols: Vec<(usize, ColumnRole)>,
    pub key: Codec,
    pub value: Codec,
    pub rowtime: usize,
    pub window: Option<(usize, usize, bool)>,
    pub tombstone: Option<usize>,
}

/// One sub-topology under construction.
#[derive(Default, Clone)]
pub(crate) struct SubSpec {
    pub sources: Vec<String>,
    /// Operators in creation order (inputs before the operators they feed); each with its
    /// downstream `(node, port)`.
    pub nodes: Vec<(NodeSpec, Option<(usize, usize)>)>,
    pub sinks: Vec<String>,
    pub stores: Vec<String>,
    pub description: Vec<String>,
}

impl SubSpec {
    fn push(&mut self, spec: NodeSpec) -> usize {
        self.nodes.push((spec, None));
        self.nodes.len() - 1
    }

    /// Adds `spec` fed by the operator `input`; returns its index.
    fn push_after(&mut self, input: usize, spec: NodeSpec) -> usize {
        let me = self.push(spec);
        self.link(input, me, 0);
        me
    }

    fn link(&mut self, from: usize, to: usize, port: usize) {
        self.nodes[from].1 = Some((to, port));
    }

    fn source(&mut self, topic: &str) -> usize {
        match self.sources.iter().position(|t| t == topic) {
            Some(i) => i,
            None => {
                self.sources.push(topic.to_string());
                self.sources.len() - 1
            }
        }
    }
}

struct Builder<'a> {
    opts: &'a CompileOptions,
    done: Vec<SubSpec>,
    internal: Vec<InternalTopic>,
}

impl Builder<'_> {
    /// Adds `node` to `sub`; returns the index of the operator that emits its output. Inputs
    /// are built first; a `Repartition` ends its input's sub-topology and starts reading the
    /// topic in `sub`.
    fn build(&mut self, node: &PlanNode, sub: &mut SubSpec) -> Result<usize> {
        Ok(match node {
            PlanNode::Scan(s) => {
                sub.source(&s.source.topic);
                sub.description.push(format!("Source: {} (topic: {})", s.source.name, s.source.topic));
                sub.push(NodeSpec::Scan { source: s.source.clone(), schema: s.schema.clone() })
            }
            PlanNode::Filter(f) => {
                let input = self.build(&f.input, sub)?;
                sub.description.push(format!("Processor: Filter ({})", f.display));
                let spec = NodeSpec::Filter {
                    predicate: f.predicate.clone(),
                    tombstone: f.input.schema().tombstone(),
                };
                sub.push_after(input, spec)
            }
            PlanNode::Project(p) => {
                let input = self.build(&p.input, sub)?;
                sub.description.push("Processor: Project".to_string());
                sub.push_after(input, NodeSpec::Project { exprs: p.exprs.clone(), schema: p.schema.arrow() })
            }
            PlanNode::Aggregate(a) => {
                let input = self.build(&a.input, sub)?;
                let spec = add_aggregate(sub, a);
                sub.push_after(input, spec)
            }
            PlanNode::Retract(r) => {
                let input = self.build(&r.input, sub)?;
                let spec = add_retract(sub, r)?;
                sub.push_after(input, spec)
            }
            PlanNode::Repartition(r) => self.build_repartition(r, sub)?,
            PlanNode::Join(j) => {
                let left = self.build(&j.left, sub)?;
                let right = self.build(&j.right, sub)?;
                let me = add_join(sub, j);
                sub.link(left, me, 0);
                sub.link(right, me, 1);
                me
            }
        })
    }

    /// A `Repartition`: its input becomes a sub-topology of its own ending in a
    /// `RepartitionSink` that writes the internal topic (declared with the topology), and
    /// `sub` reads that topic's rows back; returns the reading operator's index.
    fn build_repartition(&mut self, r: &RepartitionNode, sub: &mut SubSpec) -> Result<usize> {
        let mut upstream = SubSpec::default();
        let input = self.build(&r.input, &mut upstream)?;
        let topic = format!("{INTERNAL_PREFIX}{}", r.topic_suffix);
        let schema = r.input.schema().arrow();
        let rowtime = r
            .input
            .schema()
            .rowtime()
            .ok_or_else(|| Error::Internal("repartition input without ROWTIME".into()))?;
        upstream.description.push(format!("Sink: {topic}"));
        upstream.sinks.push(topic.clone());
        upstream.sinks.push(self.opts.processing_log_topic.clone());
        upstream.push_after(
            input,
            NodeSpec::RepartitionSink {
                topic: topic.clone(),
                keys: r.keys.clone(),
                key_codec: r.key_codec.clone(),
                schema: schema.clone(),
                rowtime,
            },
        );
        self.done.push(upstream);
        self.internal.push(InternalTopic {
            suffix: r.topic_suffix.clone(),
            partitions: r.partitions,
            config: Vec::new(),
        });
        sub.source(&topic);
        sub.description.push(format!("Source: {topic}"));
        Ok(sub.push(NodeSpec::Rows { topic, schema }))
    }
}

/// Describes an aggregate in `sub` and declares its stores (the aggregates, their metadata,
/// and for session windows the sessions by time); returns its spec.
fn add_aggregate(sub: &mut SubSpec, a: &AggregateNode) -> NodeSpec {
    let group_types = a.input.schema().fields[..a.group_count].iter().map(|f| f.data_type.clone()).collect();
    let window = a.window;
    sub.description.push(format!(
        "Processor: Aggregate{} (store {})",
        window.map(|w| format!(" {}", w.kind)).unwrap_or_default(),
        a.store
    ));
    match window.map(|w| w.kind) {
        Some(WindowKind::Session { .. }) => {
            sub.stores.extend([a.store.clone(), format!("{}-time", a.store), format!("{}-meta", a.store)]);
        }
        _ => sub.stores.extend([a.store.clone(), format!("{}-meta", a.store)]),
    }
    NodeSpec::Aggregate(AggregateSpec {
        group_count: a.group_count,
        group_types,
        aggs: a.aggs.clone(),
        window,
        emit_final: a.emit_final,
        retractions: a.retractions,
        store: a.store.clone(),
        schema: a.schema.arrow(),
    })
}

/// Describes a retraction in `sub` and declares its store; returns its spec, with the types
/// of the values it remembers and of the table key it remembers them by.
fn add_retract(sub: &mut SubSpec, r: &RetractNode) -> Result<NodeSpec> {
    let fields = &r.input.schema().fields;
    let types = |range: std::ops::Range<usize>| -> Result<Vec<_>> {
        let f =
            fields.get(range).ok_or_else(|| Error::Internal("retract input is missing columns".into()))?;
        Ok(f.iter().map(|f| f.data_type.clone()).collect())
    };
    sub.description.push(format!("Processor: Retract (store {})", r.store));
    sub.stores.push(r.store.clone());
    Ok(NodeSpec::Retract {
        groups: r.groups,
        value_types: types(0..r.values)?,
        key_types: types(r.values..r.values + r.keys)?,
        store: r.store.clone(),
        schema: r.schema.arrow(),
    })
}

/// Compiles a plan with its sink into a topology.
pub fn compile(plan: &QueryPlan, sink: Sink, opts: &CompileOptions) -> Result<Topology> {
    let mut b = Builder { opts, done: Vec::new(), internal: Vec::new() };
    let mut root = SubSpec::default();
    let last = b.build(&plan.root, &mut root)?;
    let schema = plan.root.schema();
    let rowtime = schema.rowtime().ok_or_else(|| Error::Internal("output without ROWTIME".into()))?;
    let mut callbacks = Vec::new();
    let spec = match sink {
        Sink::Topic { topic, key_format, value_format, wrap_single_value } => {
            root.description.push(format!("Sink: {topic}"));
            root.sinks.push(topic.clone());
            NodeSpec::TopicSink(topic_sink(
                schema,
                &plan.columns,
                topic,
                key_format,
                value_format,
                wrap_single_value,
            )?)
        }
        Sink::Callback { name, callback } => {
            root.description.push(format!("Sink: push query {name}"));
            root.sinks.push(name.clone());
            callbacks.push((name.clone(), callback));
            let columns = schema.user_columns();
            NodeSpec::CallbackSink { name, columns, rowtime, tombstone: schema.tombstone() }
        }
        Sink::Discard { rows } => {
            root.description.push("Sink: discard".to_string());
            NodeSpec::DiscardSink { rows }
        }
    };
    root.sinks.push(opts.processing_log_topic.clone());
    root.push_after(last, spec);
    b.done.push(root);
    let mut subtopologies = Vec::new();
    for (id, sub) in b.done.into_iter().enumerate() {
        subtopologies.push(task::subtopology(id, sub, opts.clone()));
    }
    Ok(Topology { subtopologies, internal_topics: b.internal, callbacks })
}

fn topic_sink(
    schema: &RelSchema,
    columns: &[Column],
    topic: String,
    key_format: Format,
    value_format: Format,
    wrap_single_value: bool,
) -> Result<TopicSinkSpec> {
    let mut key_cols = Vec::new();
    let mut value_cols = Vec::new();
    let mut header_cols = Vec::new();
    let mut key_types = Vec::new();
    let mut value_types = Vec::new();
    for c in columns {
        let idx = schema
            .fields
            .iter()
            .position(|f| f.name == c.name && matches!(f.role, FieldRole::Column(_)))
            .ok_or_else(|| Error::Internal(format!("output column {} missing", c.name)))?;
        match &c.role {
            ColumnRole::Key => {
                key_cols.push(idx);
                key_types.push((c.name.clone(), c.ty.clone()));
            }
            ColumnRole::Value => {
                value_cols.push(idx);
                value_types.push((c.name.clone(), c.ty.clone()));
            }
            r => header_cols.push((idx, r.clone())),
        }
    }
    let window = match (schema.window, schema.window_indexes()) {
        (Some(w), Some((s, e))) => Some((s, e, matches!(w, WindowKind::Session { .. }))),
        _ => None,
    };
    Ok(TopicSinkSpec {
        topic,
        key_cols,
        value_cols,
        header_cols,
        key: Codec { format: key_format, columns: key_types, wrap_single: false },
        value: Codec { format: value_format, columns: value_types, wrap_single: wrap_single_value },
        rowtime: schema.rowtime().ok_or_else(|| Error::Internal("no ROWTIME".into()))?,
        window,
        tombstone: schema.tombstone(),
    })
}

/// Adds a join operator to a sub-topology, with the stores it needs; returns its node index.
fn add_join(sub: &mut SubSpec, j: &JoinNode) -> usize {
    let stores: Vec<String> = match j.strategy {
        JoinStrategy::StreamTable => vec![format!("{}-table", j.store)],
        JoinStrategy::TableTable => vec![format!("{}-left", j.store), format!("{}-right", j.store)],
        JoinStrategy::ForeignKey => {
            vec![format!("{}-left", j.store), format!("{}-right", j.store), format!("{}-index", j.store)]
        }
        JoinStrategy::StreamStream { .. } => {
            ["left-buffer", "right-buffer", "left-open", "left-open-time", "right-open", "right-open-time"]
                .iter()
                .map(|s| format!("{}-{s}", j.store))
                .collect()
        }
    };
    sub.stores.extend(stores);
    sub.description
        .push(format!("Processor: Join {:?} {:?} (stores {}-*)", j.join_type, j.strategy, j.store));
    sub.push(NodeSpec::Join(Arc::new(j.clone())))
}
