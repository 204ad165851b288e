//! The streaming query plan: a tree of nodes, each with the schema of the batches it emits.
//!
//! ```text
//!  Project ◄─ Filter(HAVING) ◄─ Aggregate ◄─ Repartition ◄─ Project(group keys, args) ◄─ Filter(WHERE) ◄─ Scan
//!  Project ◄─ Aggregate ◄─ Repartition ◄─ Retract ◄─ Project(group keys, args, table key) ◄─ Scan(table)
//!  Project ◄─ Join ◄┬─ Repartition ◄─ Scan(left)
//!                   └─ Scan(right)
//! ```
//!
//! Expressions are already physical (DataFusion `PhysicalExpr`s bound to column indexes), so
//! compiling a plan only wires operators. A `Repartition` ends a sub-topology: its input is
//! written to an internal topic keyed by the new key, and its output is read back from there.

use std::sync::Arc;

use crate::catalog::SourceDef;
use crate::format::Codec;
use crate::functions::AggFunc;
use crate::parser::{JoinType, WindowKind};
use crate::planner::expr::PhysExpr;
use crate::planner::schema::RelSchema;

/// Window of an aggregation, with its lifecycle settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Tumbling, hopping or session.
    pub kind: WindowKind,
    /// Late records within `grace` of a window's end still count.
    pub grace: i64,
    /// How long windows stay in the state store after they close.
    pub retention: i64,
}

/// Default grace period (ksqlDB's: 24 hours).
pub const DEFAULT_GRACE_MS: i64 = 24 * 3_600_000;

/// Reads a stream or table.
#[derive(Debug, Clone)]
pub struct ScanNode {
    /// The source.
    pub source: Arc<SourceDef>,
    /// Schema of the decoded batches.
    pub schema: RelSchema,
}

/// Keeps rows where `predicate` is true (tables: turns the others into tombstones).
#[derive(Debug, Clone)]
pub struct FilterNode {
    /// Input.
    pub input: Box<PlanNode>,
    /// Boolean expression over the input schema.
    pub predicate: PhysExpr,
    /// As written, for EXPLAIN.
    pub display: String,
}

/// Computes new columns.
#[derive(Debug, Clone)]
pub struct ProjectNode {
    /// Input.
    pub input: Box<PlanNode>,
    /// One expression per output field.
    pub exprs: Vec<PhysExpr>,
    /// Output schema.
    pub schema: RelSchema,
}

/// Re-keys rows through an internal topic.
#[derive(Debug, Clone)]
pub struct RepartitionNode {
    /// Input.
    pub input: Box<PlanNode>,
    /// New key.
    pub keys: Vec<PhysExpr>,
    /// How the key is serialized (and so partitioned), matching what it must be
    /// co-partitioned with.
    pub key_codec: Codec,
    /// Suffix of the internal topic.
    pub topic_suffix: String,
    /// Partitions of the internal topic (`None`: as many as the input topics).
    pub partitions: Option<i32>,
}

/// Turns the changes of a table into retractions and additions of rows, for aggregating a
/// table: an update of a row retracts its previous version and adds the new one, a tombstone
/// only retracts. The previous version of each row is kept in a store keyed by the table's
/// key, so the node must run where the table's key lives (before any re-keying).
///
/// An update that keeps the row in its group is one output row carrying both versions (so
/// the group changes at once, never showing the row missing); a row that moves is two output
/// rows, a retraction in the old group and an addition in the new one.
#[derive(Debug, Clone)]
pub struct RetractNode {
    /// Input: `values` columns (group keys and aggregate arguments), then `keys` columns of
    /// the table's key, then the tombstone flag, then `ROWTIME`.
    pub input: Box<PlanNode>,
    /// Number of group key columns at the start of the input (the rest of the values are
    /// aggregate arguments).
    pub groups: usize,
    /// Number of value columns at the start of the input.
    pub values: usize,
    /// Number of table key columns after them.
    pub keys: usize,
    /// State store name (table key → the row's current value columns).
    pub store: String,
    /// Output schema: the group keys, the new aggregate arguments, the old aggregate
    /// arguments (`__O*`), the hidden `__ADD` and `__RETRACT` flags, `ROWTIME`.
    pub schema: RelSchema,
}

/// Groups rows and aggregates them, optionally per window.
#[derive(Debug, Clone)]
pub struct AggregateNode {
    /// Input: group key columns first, then one column per aggregate argument, then (when
    /// `retractions`) one column per aggregate argument for the retracted version and the
    /// `__ADD` and `__RETRACT` flags, then `ROWTIME`.
    pub input: Box<PlanNode>,
    /// Number of group key columns at the start of the input.
    pub group_count: usize,
    /// Aggregates, each reading input column `group_count + i`.
    pub aggs: Vec<AggFunc>,
    /// Window, if any.
    pub window: Option<WindowSpec>,
    /// Emit only final window results.
    pub emit_final: bool,
    /// The input is a [`RetractNode`]'s output (aggregating a table): rows flagged `__ADD`
    /// are added, rows flagged `__RETRACT` have their old version undone, and a group whose
    /// last row is retracted is deleted (emitted as a tombstone).
    pub retractions: bool,
    /// State store name.
    pub store: String,
    /// Output schema: group columns, window bounds, aggregates, `ROWTIME`, tombstone.
    pub schema: RelSchema,
}

/// How a join matches rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinStrategy {
    /// Both sides buffered within a time window.
    StreamStream {
        /// Right rows from `t - before` …
        before: i64,
        /// … to `t + after` match a left row at `t`.
        after: i64,
        /// Grace period.
        grace: i64,
    },
    /// Stream rows look up the table's current row.
    StreamTable,
    /// Both tables materialized, joined on the primary key.
    TableTable,
    /// Left table's column references the right table's primary key.
    ForeignKey,
}

/// Joins two relations on equal keys.
#[derive(Debug, Clone)]
pub struct JoinNode {
    /// Left input.
    pub left: Box<PlanNode>,
    /// Right input.
    pub right: Box<PlanNode>,
    /// Inner, left, right or full.
    pub join_type: JoinType,
    /// Matching strategy.
    pub strategy: JoinStrategy,
    /// Left join key (over the left schema).
    pub left_keys: Vec<PhysExpr>,
    /// Right join key (over the right schema).
    pub right_keys: Vec<PhysExpr>,
    /// Types of the join key columns (both sides agree).
    pub key_types: Vec<datafusion::arrow::datatypes::DataType>,
    /// Output columns `(left, right)` holding the same join key: where the left one is null
    /// (outer joins) it is filled from the right one, so the output key is never lost.
    pub key_fill: Vec<(usize, usize)>,
    /// Stream-stream joins: the left user columns (positions among them) the join buffers;
    /// the others are emitted as NULL because nothing above the join reads them. `None`: all.
    pub left_buffered: Option<Vec<usize>>,
    /// As `left_buffered`, for the right side.
    pub right_buffered: Option<Vec<usize>>,
    /// Store name prefix.
    pub store: String,
    /// Internal topic suffix prefix (foreign-key joins).
    pub topic_suffix: String,
    /// Output schema: left fields then right fields, `ROWTIME` and tombstone last.
    pub schema: RelSchema,
}

/// A node of the plan.
#[derive(Debug, Clone)]
pub enum PlanNode {
    /// Source.
    Scan(ScanNode),
    /// Filter.
    Filter(FilterNode),
    /// Projection.
    Project(ProjectNode),
    /// Re-keying through a topic.
    Repartition(RepartitionNode),
    /// Table changes as retractions and additions.
    Retract(RetractNode),
    /// Aggregation.
    Aggregate(AggregateNode),
    /// Join.
    Join(JoinNode),
}

impl PlanNode {
    /// The schema of the batches this node emits.
    pub fn schema(&self) -> &RelSchema {
        match self {
            PlanNode::Scan(n) => &n.schema,
            PlanNode::Filter(n) => n.input.schema(),
            PlanNode::Project(n) => &n.schema,
            PlanNode::Repartition(n) => n.input.schema(),
            PlanNode::Retract(n) => &n.schema,
            PlanNode::Aggregate(n) => &n.schema,
            PlanNode::Join(n) => &n.schema,
        }
    }

    /// Sources read by this subtree.
    pub fn sources(&self) -> Vec<Arc<SourceDef>> {
        match self {
            PlanNode::Scan(n) => vec![n.source.clone()],
            PlanNode::Filter(n) => n.input.sources(),
            PlanNode::Project(n) => n.input.sources(),
            PlanNode::Repartition(n) => n.input.sources(),
            PlanNode::Retract(n) => n.input.sources(),
            PlanNode::Aggregate(n) => n.input.sources(),
            PlanNode::Join(n) => {
                let mut v = n.left.sources();
                v.extend(n.right.sources());
                v
            }
        }
    }

    /// An indented description, one node per line (for EXPLAIN).
    pub fn describe(&self, indent: usize, out: &mut Vec<String>) {
        let pad = "  ".repeat(indent);
        let cols = |s: &RelSchema| {
            s.fields
                .iter()
                .filter(|f| f.role != crate::planner::schema::FieldRole::Hidden)
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            PlanNode::Scan(n) => out.push(format!(
                "{pad}> [ SOURCE ] {} {} (topic: {}, key: {}, value: {})",
                n.source.kind, n.source.name, n.source.topic, n.source.key_format, n.source.value_format
            )),
            PlanNode::Filter(n) => {
                out.push(format!("{pad}> [ FILTER ] {}", n.display));
                n.input.describe(indent + 1, out);
            }
            PlanNode::Project(n) => {
                out.push(format!("{pad}> [ PROJECT ] | Schema: {}", cols(&n.schema)));
                n.input.describe(indent + 1, out);
            }
            PlanNode::Repartition(n) => {
                out.push(format!(
                    "{pad}> [ REPARTITION ] through {} (key format {})",
                    n.topic_suffix, n.key_codec.format
                ));
                n.input.describe(indent + 1, out);
            }
            PlanNode::Retract(n) => {
                out.push(format!("{pad}> [ RETRACT ] previous rows of the table | store: {}", n.store));
                n.input.describe(indent + 1, out);
            }
            PlanNode::Aggregate(n) => {
                let aggs: Vec<&str> = n.aggs.iter().map(|a| a.display.as_str()).collect();
                let window = match n.window {
                    Some(w) => format!(" WINDOW {} (grace {} ms)", w.kind, w.grace),
                    None => String::new(),
                };
                out.push(format!(
                    "{pad}> [ AGGREGATE ] {}{window}{} | store: {}",
                    aggs.join(", "),
                    if n.emit_final { " EMIT FINAL" } else { "" },
                    n.store
                ));
                n.input.describe(indent + 1, out);
            }
            PlanNode::Join(n) => {
                let mut line = format!("{pad}> [ JOIN ] {:?} {:?}", n.join_type, n.strategy);
                if let (Some(l), Some(r)) = (&n.left_buffered, &n.right_buffered) {
                    let names = |side: &PlanNode, cols: &[usize]| {
                        let user: Vec<&str> = side
                            .schema()
                            .fields
                            .iter()
                            .filter(|f| matches!(f.role, super::schema::FieldRole::Column(_)))
                            .map(|f| f.name.as_str())
                            .collect();
                        cols.iter().filter_map(|&i| user.get(i).copied()).collect::<Vec<_>>().join(", ")
                    };
                    line.push_str(&format!(
                        " buffering ({}) and ({})",
                        names(&n.left, l),
                        names(&n.right, r)
                    ));
                }
                out.push(line);
                n.left.describe(indent + 1, out);
                n.right.describe(indent + 1, out);
            }
        }
    }
}
