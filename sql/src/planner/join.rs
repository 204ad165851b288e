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

    fn join(&self, left: Side, right: Side, j: &Join, index: usize) -> Result<PlanNode> {
        let ls = left.node.schema().clone();
        let rs = right.node.schema().clone();
        let mut combined = ls.clone();
        combined.fields.extend(rs.fields.iter().cloned());
        // Pseudo-columns of both sides would make ROWTIME ambiguous; ON only needs columns.
        combined.fields.retain(|f| matches!(f.role, FieldRole::Column(_)));
        let df = combined.df_schema()?;
        let on = self.exprs.logical(&j.on, &df)?;
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
        for c in split_conjunction(&on) {
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
        let ldf = ls.df_schema()?;
        let rdf = rs.df_schema()?;
        let mut lphys: Vec<PhysExpr> = Vec::new();
        let mut rphys: Vec<PhysExpr> = Vec::new();
        let mut key_types = Vec::new();
        for (l, r) in left_keys.iter().zip(&right_keys) {
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
            key_types.push(lt);
            lphys.push(lp);
            rphys.push(rp);
        }

        // Strategy.
        let is_pk = |schema: &RelSchema, keys: &[Expr]| {
            let pk = schema.key_indexes();
            !pk.is_empty()
                && pk.len() == keys.len()
                && pk.iter().zip(keys).all(|(&k, e)| plain_column(e, schema) == Some(k))
        };
        let strategy = match (ls.kind, rs.kind) {
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
                if !is_pk(&rs, &right_keys) {
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
                if !is_pk(&rs, &right_keys) {
                    return Err(Error::plan(
                        "a table-table join must use the right table's PRIMARY KEY in the ON clause",
                    ));
                }
                if is_pk(&ls, &left_keys) {
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
        };

        // Co-partitioning.
        let single = left.partitions == Some(1) && right.partitions == Some(1);
        let left_keyed = scan(&left.node).is_some() && is_pk(&ls, &left_keys);
        let right_keyed = scan(&right.node).is_some() && is_pk(&rs, &right_keys);
        let same_format = matches!((&left.key, &right.key), (Some(a), Some(b)) if a.0 == b.0 && a.1 == b.1);
        let mut left_node = left.node;
        let mut right_node = right.node;
        let suffix = |side: &str| format!("{}-Join-{index}-{side}-repartition", self.id);
        // The key layout of the side the other is repartitioned to match.
        let codec_of = |schema: Option<&RelSchema>, k: &Option<(Format, Vec<SqlType>)>| -> Codec {
            let format = k.as_ref().map(|k| k.0.clone()).unwrap_or(Format::Json);
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
        };
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
                let co = left_keyed && right_keyed && same_format && left.partitions == right.partitions;
                if !co {
                    let (target, partitions, repartition_left, repartition_right) = if right_keyed {
                        (codec_of(Some(&rs), &right.key), right.partitions, true, false)
                    } else if left_keyed {
                        (codec_of(Some(&ls), &left.key), left.partitions, false, true)
                    } else {
                        let p = match (left.partitions, right.partitions) {
                            (Some(l), Some(r)) => Some(l.max(r)),
                            (l, r) => l.or(r),
                        };
                        (codec_of(None, &None), p, true, true)
                    };
                    if repartition_left {
                        left_node = PlanNode::Repartition(RepartitionNode {
                            input: Box::new(left_node),
                            keys: lphys.clone(),
                            key_codec: target.clone(),
                            topic_suffix: suffix("left"),
                            partitions,
                        });
                    }
                    if repartition_right {
                        if strategy == JoinStrategy::StreamTable {
                            return Err(Error::plan(
                                "the table of a stream-table join must be keyed by its primary key",
                            ));
                        }
                        right_node = PlanNode::Repartition(RepartitionNode {
                            input: Box::new(right_node),
                            keys: rphys.clone(),
                            key_codec: target,
                            topic_suffix: suffix("right"),
                            partitions,
                        });
                    }
                }
            }
        }

        // Output: left columns, right columns, ROWTIME, tombstone for tables.
        let left_plain: Vec<Option<usize>> = left_keys.iter().map(|e| plain_column(e, &ls)).collect();
        let right_plain: Vec<Option<usize>> = right_keys.iter().map(|e| plain_column(e, &rs)).collect();
        let mut fields: Vec<RelField> = Vec::new();
        let mut key_fill = Vec::new();
        let left_user: Vec<usize> = ls
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.role, FieldRole::Column(_)))
            .map(|(i, _)| i)
            .collect();
        let right_user: Vec<usize> = rs
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.role, FieldRole::Column(_)))
            .map(|(i, _)| i)
            .collect();
        let fk = strategy == JoinStrategy::ForeignKey;
        let left_key_cols = ls.key_indexes();
        for &i in &left_user {
            let mut f = ls.fields[i].clone();
            let is_key = if fk { left_key_cols.contains(&i) } else { left_plain.contains(&Some(i)) };
            if let FieldRole::Column(r) = &f.role
                && !r.is_header()
            {
                f.role = FieldRole::Column(if is_key { ColumnRole::Key } else { ColumnRole::Value });
            }
            fields.push(f);
        }
        let right_offset = fields.len();
        let no_left_key = !fk && left_plain.iter().all(Option::is_none);
        for (k, &i) in right_user.iter().enumerate() {
            let mut f = rs.fields[i].clone();
            let is_key = no_left_key && right_plain.contains(&Some(i));
            if let FieldRole::Column(r) = &f.role
                && !r.is_header()
            {
                f.role = FieldRole::Column(if is_key { ColumnRole::Key } else { ColumnRole::Value });
            }
            fields.push(f);
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
        let schema = RelSchema { fields, kind, window: None };
        Ok(PlanNode::Join(JoinNode {
            left: Box::new(left_node),
            right: Box::new(right_node),
            join_type: j.join_type,
            strategy,
            left_keys: lphys,
            right_keys: rphys,
            key_types: key_types.iter().map(SqlType::to_arrow).collect(),
            key_fill,
            left_buffered: None,
            right_buffered: None,
            store: format!("{}-Join-{index}", self.id),
            topic_suffix: format!("{}-Join-{index}", self.id),
            schema,
        }))
    }
}
