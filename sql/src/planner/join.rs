//! Join planning: stream-stream (`WITHIN`), stream-table, table-table on primary keys, and
//! table-table on a foreign key; `ON` may hold several equalities (`a.x = b.x AND a.y = b.y`).
//!
//! Rows meet in one task only if both sides are partitioned the same way, so a side whose
//! join key is not its record key (or whose key is serialized differently from the other
//! side's) is repartitioned through an internal topic, keyed with the other side's key
//! format — as ksqlDB does. Single-partition inputs never need it.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::Planner;
use super::plan::{DEFAULT_GRACE_MS, JoinNode, JoinStrategy, PlanNode, RepartitionNode, ScanNode};
use super::schema::{FieldRole, ROWTIME, RelField, RelSchema, TOMBSTONE};
use crate::catalog::ColumnRole;
use crate::error::{Error, Result};
use crate::format::{Codec, Format};
use crate::parser::{Join, JoinType, Query, SourceKind};
use crate::planner::expr::PhysExpr;
use crate::types::SqlType;

/// How one side of a join is partitioned.
struct Side {
    node: PlanNode,
    /// Topic partitions (`None`: already a join result of several topics).
    partitions: Option<i32>,
    /// Key format and types of the side's record keys, when the side reads a topic directly.
    key: Option<(Format, Vec<SqlType>)>,
}

fn scan(node: &PlanNode) -> Option<&ScanNode> {
    match node {
        PlanNode::Scan(s) => Some(s),
        PlanNode::Filter(f) => scan(&f.input),
        _ => None,
    }
}

/// Column indexes of the schema referenced by `e`, if it is a plain column.
fn plain_column(e: &Expr, schema: &RelSchema) -> Option<usize> {
    match e {
        Expr::Column(c) => schema.fields.iter().position(|f| {
            f.name == c.name
                && (c.relation.is_none() || c.relation.as_ref().map(|r| r.table()) == f.qualifier.as_deref())
        }),
        _ => None,
    }
}

/// Which qualifiers an expression refers to.
fn qualifiers(e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = e.apply(|n| {
        if let Expr::Column(c) = n {
            let q = c.relation.as_ref().map(|r| r.table().to_string()).unwrap_or_default();
            if !out.contains(&q) {
                out.push(q);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

impl Planner<'_> {
    /// Plans `FROM a JOIN b … [JOIN c …]`, left to right.
    pub(super) fn plan_joins(&self, q: &Query) -> Result<PlanNode> {
        let first = self.catalog.source(&q.from.name)?;
        let mut seen = vec![q.from.qualifier().to_string()];
        let mut left = Side {
            partitions: (self.partitions)(&first.topic),
            key: Some((first.key_format.clone(), first.key_columns().map(|c| c.ty.clone()).collect())),
            node: PlanNode::Scan(ScanNode {
                schema: RelSchema::of_source(&first, q.from.qualifier()),
                source: first,
            }),
        };
        for (i, j) in q.joins.iter().enumerate() {
            let def = self.catalog.source(&j.relation.name)?;
            let qual = j.relation.qualifier().to_string();
            if seen.contains(&qual) {
                return Err(Error::plan(format!(
                    "{qual} appears twice in FROM; give each source its own alias (FROM a x JOIN a y …)"
                )));
            }
            seen.push(qual.clone());
            let right = Side {
                partitions: (self.partitions)(&def.topic),
                key: Some((def.key_format.clone(), def.key_columns().map(|c| c.ty.clone()).collect())),
                node: PlanNode::Scan(ScanNode { schema: RelSchema::of_source(&def, &qual), source: def }),
            };
            let node = self.join(left, right, j, i)?;
            left = Side { node, partitions: None, key: None };
        }
        Ok(left.node)
    }

    /// Plans one join of `left` with `right` (the `index`-th join of the query): the key
    /// equalities of `ON` ([`Self::join_keys`]), the strategy their sides and keys allow
    /// ([`join_strategy`]), the co-partitioning ([`Self::co_partition`]) and the output
    /// ([`join_output`]).
    fn join(&self, left: Side, right: Side, j: &Join, index: usize) -> Result<PlanNode> {
        let ls = left.node.schema().clone();
        let rs = right.node.schema().clone();
        let keys = self.join_keys(&ls, &rs, j)?;
        let strategy = join_strategy(&ls, &rs, j, &keys)?;
        let (left_node, right_node) = self.co_partition(left, right, strategy, &keys, index)?;
        let (schema, key_fill) = join_output(&ls, &rs, &keys, strategy);
        Ok(PlanNode::Join(JoinNode {
            left: Box::new(left_node),
            right: Box::new(right_node),
            join_type: j.join_type,
            strategy,
            left_keys: keys.left_phys,
            right_keys: keys.right_phys,
            key_types: keys.types.iter().map(SqlType::to_arrow).collect(),
            key_fill,
            left_buffered: None,
            right_buffered: None,
            store: format!("{}-Join-{index}", self.id),
            topic_suffix: format!("{}-Join-{index}", self.id),
            schema,
        }))
    }

    /// Step 1: splits `ON` into equalities between an expression of the left side and one of
    /// the right side, and plans both over their own side; the two sides of each equality
    /// must have the same type.
    fn join_keys(&self, ls: &RelSchema, rs: &RelSchema, j: &Join) -> Result<JoinKeys> {
        let mut combined = ls.clone();
        combined.fields.extend(rs.fields.iter().cloned());
        // Pseudo-columns of both sides would make ROWTIME ambiguous; ON only needs columns.
        combined.fields.retain(|f| matches!(f.role, FieldRole::Column(_)));
        let df = combined.df_schema()?;
        let on = self.exprs.logical(&j.on, &df)?;
        let (left, right) = split_equalities(&on, ls, rs)?;
        let ldf = ls.df_schema()?;
        let rdf = rs.df_schema()?;
        let mut keys =
            JoinKeys { left_phys: Vec::new(), right_phys: Vec::new(), types: Vec::new(), left, right };
        for (l, r) in keys.left.iter().zip(&keys.right) {
            let lp = self.exprs.physical(l, &ldf)?;
            let rp = self.exprs.physical(r, &rdf)?;
            let lt = SqlType::from_arrow(&lp.data_type(&ls.arrow())?)?;
            let rt = SqlType::from_arrow(&rp.data_type(&rs.arrow())?)?;
            if lt != rt {
                return Err(Error::plan(format!(
                    "cannot join {} ({lt}) with {} ({rt}): the types differ; CAST one side",
                    l.to_string().replace('"', ""),
                    r.to_string().replace('"', "")
                )));
            }
            keys.types.push(lt);
            keys.left_phys.push(lp);
            keys.right_phys.push(rp);
        }
        Ok(keys)
    }

    /// Step 3: makes rows with equal join keys meet in one task. Single-partition inputs
    /// always do; table-table joins must already be co-partitioned and foreign-key joins be
    /// single-partition; the other joins repartition the sides [`repartition_target`] names
    /// (never the table of a stream-table join). Returns the left and right inputs of the join.
    fn co_partition(
        &self,
        left: Side,
        right: Side,
        strategy: JoinStrategy,
        keys: &JoinKeys,
        index: usize,
    ) -> Result<(PlanNode, PlanNode)> {
        let single = left.partitions == Some(1) && right.partitions == Some(1);
        let same_format = matches!((&left.key, &right.key), (Some(a), Some(b)) if a.0 == b.0 && a.1 == b.1);
        match strategy {
            JoinStrategy::ForeignKey => {
                if !single {
                    return Err(Error::Unsupported(
                        "foreign-key joins of tables with more than one partition; use single-partition topics".into(),
                    ));
                }
            }
            JoinStrategy::TableTable => {
                if !single && (left.partitions != right.partitions || !same_format) {
                    return Err(Error::plan(
                        "tables joined on their primary keys must be co-partitioned: same partition count and key format",
                    ));
                }
            }
            _ if single => {}
            _ => {
                let Some(target) = repartition_target(&left, &right, keys, same_format) else {
                    return Ok((left.node, right.node));
                };
                let (mut left_node, mut right_node) = (left.node, right.node);
                if target.left {
                    left_node = self.repartition(left_node, &keys.left_phys, &target, index, "left");
                }
                if target.right {
                    if strategy == JoinStrategy::StreamTable {
                        return Err(Error::plan(
                            "the table of a stream-table join must be keyed by its primary key",
                        ));
                    }
                    right_node = self.repartition(right_node, &keys.right_phys, &target, index, "right");
                }
                return Ok((left_node, right_node));
            }
        }
        Ok((left.node, right.node))
    }

    /// Re-keys one side (`side`: "left" or "right") of the `index`-th join by its join key.
    fn repartition(
        &self,
        node: PlanNode,
        keys: &[PhysExpr],
        target: &Repartition,
        index: usize,
        side: &str,
    ) -> PlanNode {
        PlanNode::Repartition(RepartitionNode {
            input: Box::new(node),
            keys: keys.to_vec(),
            key_codec: target.key_codec.clone(),
            topic_suffix: format!("{}-Join-{index}-{side}-repartition", self.id),
            partitions: target.partitions,
        })
    }
}

/// Which sides of a stream join to repartition, and how.
struct Repartition {
    /// The key layout of the repartitioned side(s).
    key_codec: Codec,
    /// Partitions of the repartition topic(s).
    partitions: Option<i32>,
    /// Repartition the left side.
    left: bool,
    /// Repartition the right side.
    right: bool,
}

/// For a stream join over several partitions: nothing when both sides read their topic
/// keyed by the join key, in the same key format and partition count; otherwise the side
/// not keyed so is repartitioned into the other's key format and partition count, or both
/// sides, keyed as JSON, when neither is.
fn repartition_target(left: &Side, right: &Side, keys: &JoinKeys, same_format: bool) -> Option<Repartition> {
    let (ls, rs) = (left.node.schema(), right.node.schema());
    let left_keyed = scan(&left.node).is_some() && on_primary_key(ls, &keys.left);
    let right_keyed = scan(&right.node).is_some() && on_primary_key(rs, &keys.right);
    if left_keyed && right_keyed && same_format && left.partitions == right.partitions {
        return None;
    }
    Some(if right_keyed {
        let key_codec = key_codec(Some(rs), &right.key, &keys.types);
        Repartition { key_codec, partitions: right.partitions, left: true, right: false }
    } else if left_keyed {
        let key_codec = key_codec(Some(ls), &left.key, &keys.types);
        Repartition { key_codec, partitions: left.partitions, left: false, right: true }
    } else {
        let partitions = match (left.partitions, right.partitions) {
            (Some(l), Some(r)) => Some(l.max(r)),
            (l, r) => l.or(r),
        };
        Repartition { key_codec: key_codec(None, &None, &keys.types), partitions, left: true, right: true }
    })
}

/// The join key: the equalities of `ON`, each side planned over its own input.
struct JoinKeys {
    /// Left expressions of the equalities, over the left schema.
    left: Vec<Expr>,
    /// Right expressions, over the right schema.
    right: Vec<Expr>,
    /// `left`, planned.
    left_phys: Vec<PhysExpr>,
    /// `right`, planned.
    right_phys: Vec<PhysExpr>,
    /// The key column types (both sides agree).
    types: Vec<SqlType>,
}

/// Splits `on` (`a = b AND …`) into the left and right expressions of its equalities, each
/// equality oriented by the qualifiers its two sides refer to.
fn split_equalities(on: &Expr, ls: &RelSchema, rs: &RelSchema) -> Result<(Vec<Expr>, Vec<Expr>)> {
    let left_quals: Vec<String> = ls.fields.iter().filter_map(|f| f.qualifier.clone()).collect();
    let right_quals: Vec<String> = rs.fields.iter().filter_map(|f| f.qualifier.clone()).collect();
    let side_of = |e: &Expr| -> Option<bool> {
        let qs = qualifiers(e);
        if !qs.is_empty() && qs.iter().all(|q| left_quals.contains(q)) {
            Some(true)
        } else if !qs.is_empty() && qs.iter().all(|q| right_quals.contains(q)) {
            Some(false)
        } else {
            None
        }
    };
    let mut left_keys = Vec::new();
    let mut right_keys = Vec::new();
    for c in split_conjunction(on) {
        let bad = || {
            Error::plan(format!(
                "join conditions must be equalities between columns of the two sides, joined with AND (e.g. a.x = b.x AND a.y = b.y), not `{}`",
                c.to_string().replace('"', "")
            ))
        };
        let Expr::BinaryExpr(BinaryExpr { left: a, op: Operator::Eq, right: b }) = c else {
            return Err(bad());
        };
        match (side_of(a), side_of(b)) {
            (Some(true), Some(false)) => {
                left_keys.push(a.as_ref().clone());
                right_keys.push(b.as_ref().clone());
            }
            (Some(false), Some(true)) => {
                left_keys.push(b.as_ref().clone());
                right_keys.push(a.as_ref().clone());
            }
            _ => return Err(bad()),
        }
    }
    Ok((left_keys, right_keys))
}

/// Whether `keys` are exactly the primary key columns of `schema`, in order.
fn on_primary_key(schema: &RelSchema, keys: &[Expr]) -> bool {
    let pk = schema.key_indexes();
    !pk.is_empty()
        && pk.len() == keys.len()
        && pk.iter().zip(keys).all(|(&k, e)| plain_column(e, schema) == Some(k))
}

/// Step 2: the join strategy the two sides' kinds allow, checking `WITHIN`, the join type
/// and that a table on the right is joined on its primary key (on the left, a table not
/// joined on its primary key makes a foreign-key join).
fn join_strategy(ls: &RelSchema, rs: &RelSchema, j: &Join, keys: &JoinKeys) -> Result<JoinStrategy> {
    Ok(match (ls.kind, rs.kind) {
        (SourceKind::Stream, SourceKind::Stream) => {
            let (before, after) = j.within.ok_or_else(|| {
                Error::plan("stream-stream joins need a WITHIN clause (e.g. WITHIN 1 HOUR) bounding how far apart matching rows may be")
            })?;
            JoinStrategy::StreamStream { before, after, grace: j.grace.unwrap_or(DEFAULT_GRACE_MS) }
        }
        (SourceKind::Stream, SourceKind::Table) => {
            if j.within.is_some() {
                return Err(Error::plan("WITHIN is only allowed in stream-stream joins"));
            }
            if !matches!(j.join_type, JoinType::Inner | JoinType::Left) {
                return Err(Error::plan("stream-table joins are INNER or LEFT joins"));
            }
            if !on_primary_key(rs, &keys.right) {
                return Err(Error::plan(format!(
                    "a stream-table join must use the table's PRIMARY KEY ({}) in the ON clause",
                    rs.key_indexes()
                        .iter()
                        .map(|&k| rs.fields[k].name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            JoinStrategy::StreamTable
        }
        (SourceKind::Table, SourceKind::Table) => {
            if j.within.is_some() {
                return Err(Error::plan("WITHIN is only allowed in stream-stream joins"));
            }
            if !on_primary_key(rs, &keys.right) {
                return Err(Error::plan(
                    "a table-table join must use the right table's PRIMARY KEY in the ON clause",
                ));
            }
            if on_primary_key(ls, &keys.left) {
                JoinStrategy::TableTable
            } else {
                if !matches!(j.join_type, JoinType::Inner | JoinType::Left) {
                    return Err(Error::plan("foreign-key joins are INNER or LEFT joins"));
                }
                JoinStrategy::ForeignKey
            }
        }
        (SourceKind::Table, SourceKind::Stream) => {
            return Err(Error::plan(
                "a table cannot be joined with a stream on its right; put the stream first (stream-table join)",
            ));
        }
    })
}

/// The key layout a side is repartitioned to, to match the other side `schema` with record
/// keys `key` (`None`: no side is keyed; the key columns are named `K<i>`). A format that
/// cannot hold the key columns falls back to JSON.
fn key_codec(
    schema: Option<&RelSchema>,
    key: &Option<(Format, Vec<SqlType>)>,
    key_types: &[SqlType],
) -> Codec {
    let format = key.as_ref().map(|k| k.0.clone()).unwrap_or(Format::Json);
    let format = if format == Format::None { Format::Json } else { format };
    let names: Vec<String> = match schema {
        Some(s) => s.key_indexes().iter().map(|&i| s.fields[i].name.clone()).collect(),
        None => (0..key_types.len()).map(|i| format!("K{i}")).collect(),
    };
    let cols: Vec<(String, SqlType)> = names.into_iter().zip(key_types.iter().cloned()).collect();
    if format.check_columns("key", &cols).is_ok() {
        Codec { format, columns: cols, wrap_single: false }
    } else {
        Codec { format: Format::Json, columns: cols, wrap_single: false }
    }
}

/// `field` as a key or a value column of the join's output (header columns stay headers).
fn with_key_role(mut field: RelField, is_key: bool) -> RelField {
    if let FieldRole::Column(r) = &field.role
        && !r.is_header()
    {
        field.role = FieldRole::Column(if is_key { ColumnRole::Key } else { ColumnRole::Value });
    }
    field
}

/// Step 4: the join's output — the user columns of the left side, then of the right side,
/// `ROWTIME`, and the tombstone flag when the result is a table — with the output's key
/// columns: the left join-key columns (a foreign-key join: the left table's primary key),
/// or the right ones when no left key is a plain column. Also returns the `key_fill` pairs:
/// the output positions of left and right columns holding the same join key.
fn join_output(
    ls: &RelSchema,
    rs: &RelSchema,
    keys: &JoinKeys,
    strategy: JoinStrategy,
) -> (RelSchema, Vec<(usize, usize)>) {
    let left_plain: Vec<Option<usize>> = keys.left.iter().map(|e| plain_column(e, ls)).collect();
    let right_plain: Vec<Option<usize>> = keys.right.iter().map(|e| plain_column(e, rs)).collect();
    let left_user = ls.user_columns();
    let fk = strategy == JoinStrategy::ForeignKey;
    let left_key_cols = ls.key_indexes();
    let mut fields: Vec<RelField> = Vec::new();
    for &i in &left_user {
        let is_key = if fk { left_key_cols.contains(&i) } else { left_plain.contains(&Some(i)) };
        fields.push(with_key_role(ls.fields[i].clone(), is_key));
    }
    let right_offset = fields.len();
    let no_left_key = !fk && left_plain.iter().all(Option::is_none);
    let mut key_fill = Vec::new();
    for (k, &i) in rs.user_columns().iter().enumerate() {
        let is_key = no_left_key && right_plain.contains(&Some(i));
        fields.push(with_key_role(rs.fields[i].clone(), is_key));
        if !fk
            && let Some(pos) = right_plain.iter().position(|p| *p == Some(i))
            && let Some(Some(l)) = left_plain.get(pos)
            && let Some(lo) = left_user.iter().position(|x| x == l)
        {
            key_fill.push((lo, right_offset + k));
        }
    }
    fields.push(RelField::pseudo(None, ROWTIME, DataType::Int64));
    let kind = match strategy {
        JoinStrategy::TableTable | JoinStrategy::ForeignKey => SourceKind::Table,
        _ => SourceKind::Stream,
    };
    if kind == SourceKind::Table {
        fields.push(RelField::hidden(TOMBSTONE, DataType::Boolean));
    }
    (RelSchema { fields, kind, window: None }, key_fill)
}
