//! Planning `GROUP BY`, aggregate functions, windows and `HAVING`.
//!
//! The select list and `HAVING` are planned over the input; then every aggregate call is
//! replaced by a reference to an aggregate output column (`__AGG_i`) and every occurrence of a
//! group-by expression by a reference to a group column (`__G_i`). Whatever column reference
//! is left must be a window bound or `ROWTIME` — otherwise the query selects something that is
//! neither grouped nor aggregated.
//!
//! Aggregating a TABLE (ksqlDB's `KGroupedTable` semantics): each change of the table updates
//! one row, so the aggregate must undo the row's previous version in its previous group and
//! apply the new version to its new group. A [`RetractNode`] right after the pre-projection
//! (where the table's key still decides the partition) remembers each row's group keys and
//! aggregate arguments and turns a change into a retraction of the old version and an
//! addition of the new one; the re-keying sends each to the partition of its own group, in
//! order. Only functions that can undo a value (COUNT, SUM, AVG) are allowed, and a group
//! whose last row leaves it is deleted.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column as DfColumn;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::Expr;

use super::plan::{
    AggregateNode, DEFAULT_GRACE_MS, PlanNode, ProjectNode, RepartitionNode, RetractNode, WindowSpec,
};
use super::schema::{
    ADD, FieldRole, RETRACT, ROWTIME, RelField, RelSchema, TOMBSTONE, WINDOWEND, WINDOWSTART,
};
use super::{Item, Planner, has_aggregate};
use crate::catalog::ColumnRole;
use crate::error::{Error, Result};
use crate::format::{Codec, Format};
use crate::functions::{AggFunc, AggKind};
use crate::parser::{Emit, Query, SourceKind, WindowKind};
use crate::types::SqlType;

impl Planner<'_> {
    /// Plans the aggregation part of `q` over `input`. Returns the node (aggregate, then HAVING),
    /// the select items rewritten over the aggregate's output, and the group key references.
    pub(super) fn plan_aggregate(
        &self,
        input: PlanNode,
        q: &Query,
    ) -> Result<(PlanNode, Vec<Item>, Vec<Expr>)> {
        let in_schema = input.schema().clone();
        let table_input = in_schema.kind == SourceKind::Table;
        if q.group_by.is_empty() {
            return Err(Error::plan("aggregate functions need GROUP BY (ksqlDB has no global aggregates)"));
        }
        if table_input && q.window.is_some() {
            return Err(Error::plan(
                "a TABLE cannot be aggregated in windows (its rows are current values, not events in time); window the stream the table is built from, or drop the WINDOW clause",
            ));
        }
        // Select items may refer to the window bounds, which exist only after aggregation.
        let mut planning = in_schema.clone();
        if q.window.is_some() {
            for name in [WINDOWSTART, WINDOWEND] {
                if planning.index_of(name).is_none() {
                    planning.fields.push(RelField::pseudo(None, name, DataType::Int64));
                }
            }
        }
        let df = planning.df_schema()?;
        let in_df = in_schema.df_schema()?;
        let mut groups = Vec::with_capacity(q.group_by.len());
        for g in &q.group_by {
            let e = self.exprs.logical(g, &in_df)?;
            if has_aggregate(&e) {
                return Err(Error::plan("GROUP BY cannot contain aggregate functions"));
            }
            groups.push(e);
        }
        if q.projection.iter().any(|i| {
            matches!(
                i,
                sqlparser::ast::SelectItem::Wildcard(_) | sqlparser::ast::SelectItem::QualifiedWildcard(..)
            )
        }) {
            return Err(Error::plan(
                "SELECT * cannot be used with GROUP BY; list the grouping columns and aggregates",
            ));
        }
        let items = self.items(&q.projection, &planning, &df)?;
        let having = match &q.having {
            Some(h) => Some(self.exprs.logical(h, &df)?),
            None => None,
        };
        // Distinct aggregate calls, in order of appearance.
        let mut calls: Vec<Expr> = Vec::new();
        for e in items.iter().map(|i| &i.expr).chain(having.iter()) {
            e.apply(|n| {
                if let Expr::AggregateFunction(_) = n {
                    if !calls.contains(n) {
                        calls.push(n.clone());
                    }
                    return Ok(TreeNodeRecursion::Jump);
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        // Pre-projection: group keys, one argument per aggregate, ROWTIME.
        let in_arrow = in_schema.arrow();
        let mut exprs = Vec::new();
        let mut fields = Vec::new();
        let mut group_types = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let p = self.exprs.physical(g, &in_df)?;
            let t = SqlType::from_arrow(&p.data_type(&in_arrow)?)?;
            if matches!(t, SqlType::Map(..)) {
                return Err(Error::plan("cannot GROUP BY a MAP"));
            }
            fields.push(RelField::column(None, &format!("__G{i}"), &t, ColumnRole::Key));
            group_types.push(t);
            exprs.push(p);
        }
        let mut aggs = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            let Expr::AggregateFunction(af) = call else { continue };
            let args = &af.params.args;
            if af.params.filter.is_some() || !af.params.order_by.is_empty() {
                return Err(Error::Unsupported("FILTER and ORDER BY inside aggregate calls".into()));
            }
            let first = args.first().cloned().unwrap_or_else(|| datafusion::logical_expr::lit(1i64));
            if has_aggregate(&first) {
                return Err(Error::plan("aggregate calls cannot be nested"));
            }
            let p = self.exprs.physical(&first, &in_df)?;
            let t = p.data_type(&in_arrow)?;
            let display = call.to_string().replace('"', "").to_uppercase();
            let mut func = AggFunc::plan(af.func.name(), af.params.distinct, args, &t, display)?;
            func.undo = table_input;
            fields.push(RelField {
                qualifier: None,
                name: format!("__A{i}"),
                data_type: func.input.clone(),
                role: FieldRole::Hidden,
            });
            exprs.push(p);
            aggs.push(func);
        }
        if table_input {
            check_undoable(&aggs)?;
        }
        let column = |name: &str, i: usize| -> super::expr::PhysExpr {
            std::sync::Arc::new(datafusion::physical_expr::expressions::Column::new(name, i))
        };
        let values = fields.len();
        let mut table_keys = 0;
        if table_input {
            // The table's key and the tombstone flag, for the retract node.
            let keys = in_schema.key_indexes();
            if keys.is_empty() {
                return Err(Error::plan(
                    "the aggregated TABLE has no PRIMARY KEY column, so its changes cannot be matched with the rows they replace",
                ));
            }
            for (j, &k) in keys.iter().enumerate() {
                exprs.push(column(&in_schema.fields[k].name, k));
                fields.push(RelField::hidden(&format!("__K{j}"), in_schema.fields[k].data_type.clone()));
            }
            table_keys = keys.len();
            let t = in_schema
                .tombstone()
                .ok_or_else(|| Error::Internal("table input without tombstone".into()))?;
            exprs.push(column(TOMBSTONE, t));
            fields.push(RelField::hidden(TOMBSTONE, DataType::Boolean));
        }
        let rowtime = in_schema.rowtime().ok_or_else(|| Error::Internal("input has no ROWTIME".into()))?;
        exprs.push(column(ROWTIME, rowtime));
        fields.push(RelField::pseudo(None, ROWTIME, DataType::Int64));
        let pre_schema = RelSchema { fields, kind: SourceKind::Stream, window: None };
        let mut node =
            PlanNode::Project(ProjectNode { input: Box::new(input), exprs, schema: pre_schema.clone() });
        if table_input {
            let mut out = pre_schema.fields[..values].to_vec();
            for (i, f) in pre_schema.fields[groups.len()..values].iter().enumerate() {
                out.push(RelField::hidden(&format!("__O{i}"), f.data_type.clone()));
            }
            out.push(RelField::hidden(ADD, DataType::Boolean));
            out.push(RelField::hidden(RETRACT, DataType::Boolean));
            out.push(RelField::pseudo(None, ROWTIME, DataType::Int64));
            node = PlanNode::Retract(RetractNode {
                input: Box::new(node),
                groups: groups.len(),
                values,
                keys: table_keys,
                store: format!("{}-Aggregate-Retract", self.id),
                schema: RelSchema { fields: out, kind: SourceKind::Stream, window: None },
            });
        }

        if self.needs_group_repartition(&node_source_topics(&node), &groups, &in_schema) {
            let keys = (0..groups.len())
                .map(|i| {
                    std::sync::Arc::new(datafusion::physical_expr::expressions::Column::new(
                        &format!("__G{i}"),
                        i,
                    )) as super::expr::PhysExpr
                })
                .collect();
            let key_codec = Codec {
                format: Format::Json,
                columns: group_types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("__G{i}"), t.clone()))
                    .collect(),
                wrap_single: false,
            };
            node = PlanNode::Repartition(RepartitionNode {
                input: Box::new(node),
                keys,
                key_codec,
                topic_suffix: format!("{}-Aggregate-GroupBy-repartition", self.id),
                partitions: None,
            });
        }

        let window = match &q.window {
            None => None,
            Some(w) => {
                let grace = w.grace.unwrap_or(DEFAULT_GRACE_MS);
                let size = match w.kind {
                    WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => size,
                    WindowKind::Session { gap } => gap,
                };
                let retention = w.retention.unwrap_or(size + grace).max(size + grace);
                if let Some(r) = w.retention
                    && r < size + grace
                {
                    return Err(Error::plan(format!(
                        "RETENTION ({r} ms) must be at least the window size plus the grace period ({} ms)",
                        size + grace
                    )));
                }
                Some(WindowSpec { kind: w.kind, grace, retention })
            }
        };

        // The aggregate's output.
        let mut out_fields = Vec::new();
        for (i, t) in group_types.iter().enumerate() {
            out_fields.push(RelField::column(None, &format!("__G{i}"), t, ColumnRole::Key));
        }
        if window.is_some() {
            out_fields.push(RelField::pseudo(None, WINDOWSTART, DataType::Int64));
            out_fields.push(RelField::pseudo(None, WINDOWEND, DataType::Int64));
        }
        for (i, a) in aggs.iter().enumerate() {
            out_fields.push(RelField {
                qualifier: None,
                name: format!("__AGG{i}"),
                data_type: a.output.clone(),
                role: FieldRole::Hidden,
            });
        }
        out_fields.push(RelField::pseudo(None, ROWTIME, DataType::Int64));
        out_fields.push(RelField::hidden(TOMBSTONE, DataType::Boolean));
        let out_schema =
            RelSchema { fields: out_fields, kind: SourceKind::Table, window: window.map(|w| w.kind) };
        node = PlanNode::Aggregate(AggregateNode {
            input: Box::new(node),
            group_count: groups.len(),
            aggs,
            window,
            emit_final: q.emit == Some(Emit::Final),
            retractions: table_input,
            store: format!("{}-Aggregate-Materialize", self.id),
            schema: out_schema.clone(),
        });

        // Rewrite the select list and HAVING over the aggregate's output.
        let rewrite = |e: &Expr| -> Result<Expr> {
            let t = e.clone().transform_down(|n| {
                if let Some(i) = groups.iter().position(|g| *g == n) {
                    return Ok(Transformed::new(
                        Expr::Column(DfColumn::from_name(format!("__G{i}"))),
                        true,
                        TreeNodeRecursion::Jump,
                    ));
                }
                if let Some(i) = calls.iter().position(|c| *c == n) {
                    return Ok(Transformed::new(
                        Expr::Column(DfColumn::from_name(format!("__AGG{i}"))),
                        true,
                        TreeNodeRecursion::Jump,
                    ));
                }
                if let Expr::Column(c) = &n
                    && matches!(c.name.as_str(), WINDOWSTART | WINDOWEND | ROWTIME)
                {
                    return Ok(Transformed::yes(Expr::Column(DfColumn::from_name(c.name.clone()))));
                }
                Ok(Transformed::no(n))
            })?;
            let e = t.data;
            let mut stray = None;
            e.apply(|n| {
                if let Expr::Column(c) = n
                    && (out_schema.index_of(&c.name).is_none() || c.relation.is_some())
                {
                    stray = Some(c.flat_name());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
            if let Some(s) = stray {
                return Err(Error::plan(format!(
                    "non-aggregate SELECT expression(s) not part of GROUP BY: {}; add it to GROUP BY or wrap it in an aggregate",
                    s.replace('"', "")
                )));
            }
            Ok(e)
        };
        let mut rewritten = Vec::with_capacity(items.len());
        for it in items {
            rewritten.push(Item { expr: rewrite(&it.expr)?, ..it });
        }
        if let Some(h) = having {
            let h = rewrite(&h)?;
            let df = out_schema.df_schema()?;
            let predicate = self.exprs.physical(&h, &df)?;
            node = PlanNode::Filter(super::plan::FilterNode {
                input: Box::new(node),
                predicate,
                display: q.having.as_ref().map(super::expr::display_sql).unwrap_or_default(),
            });
        }
        let keys = (0..groups.len()).map(|i| Expr::Column(DfColumn::from_name(format!("__G{i}")))).collect();
        Ok((node, rewritten, keys))
    }

    /// Grouping needs a repartition unless every row of a group is already in the same
    /// partition: single-partition input, or grouping exactly by the source's key.
    fn needs_group_repartition(&self, topics: &[String], groups: &[Expr], input: &RelSchema) -> bool {
        let multi = topics.iter().any(|t| (self.partitions)(t).unwrap_or(1) > 1);
        if !multi {
            return false;
        }
        let keys = input.key_indexes();
        let by_key = topics.len() == 1
            && keys.len() == groups.len()
            && keys
                .iter()
                .zip(groups)
                .all(|(&k, g)| matches!(g, Expr::Column(c) if c.name == input.fields[k].name));
        !by_key
    }
}

/// Topics read by the sub-tree (before any repartition).
fn node_source_topics(node: &PlanNode) -> Vec<String> {
    match node {
        PlanNode::Scan(s) => vec![s.source.topic.clone()],
        PlanNode::Filter(n) => node_source_topics(&n.input),
        PlanNode::Project(n) => node_source_topics(&n.input),
        PlanNode::Repartition(_) => Vec::new(),
        PlanNode::Retract(n) => node_source_topics(&n.input),
        PlanNode::Aggregate(n) => node_source_topics(&n.input),
        PlanNode::Join(n) => {
            let mut v = node_source_topics(&n.left);
            v.extend(node_source_topics(&n.right));
            v
        }
    }
}

/// Aggregating a table undoes rows, which only some functions can do (ksqlDB's
/// `TableAggregationFunction`s); names the others.
fn check_undoable(aggs: &[AggFunc]) -> Result<()> {
    let mut bad: Vec<&str> = Vec::new();
    for a in aggs {
        let name = a.kind.name();
        if !a.kind.undoable() && !bad.contains(&name) {
            bad.push(name);
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let supported: Vec<&str> = AggKind::ALL.iter().filter(|k| k.undoable()).map(AggKind::name).collect();
    Err(Error::plan(format!(
        "The aggregation function(s) ({}) cannot be applied to a table: when a row of a table changes or is deleted its old value must be taken back out of the aggregate, and {} cannot do that. On a TABLE use {}; for the others, aggregate the stream the table is built from",
        bad.join(", "),
        if bad.len() == 1 { "this function" } else { "these functions" },
        supported.join(", ")
    )))
}
