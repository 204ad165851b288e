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

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column as DfColumn, DFSchema};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::Column as PhysColumn;

use super::expr::{PhysExpr, display_sql};
use super::plan::{
    AggregateNode, DEFAULT_GRACE_MS, FilterNode, PlanNode, ProjectNode, RepartitionNode, RetractNode,
    WindowSpec,
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

/// What the query groups by and aggregates, planned over the input (step 1).
struct Grouping {
    /// The `GROUP BY` expressions, over the input.
    groups: Vec<Expr>,
    /// The select list, over the input plus the window bounds.
    items: Vec<Item>,
    /// `HAVING`, over the same schema as the select list.
    having: Option<Expr>,
    /// Distinct aggregate calls of the select list and `HAVING`, in order of appearance.
    calls: Vec<Expr>,
}

/// The columns of the pre-projection under construction.
#[derive(Default)]
struct PreColumns {
    exprs: Vec<PhysExpr>,
    fields: Vec<RelField>,
}

impl PreColumns {
    fn push(&mut self, expr: PhysExpr, field: RelField) {
        self.exprs.push(expr);
        self.fields.push(field);
    }

    /// Passes the input's column `index` through as `field`.
    fn pass(&mut self, input: &RelSchema, index: usize, field: RelField) {
        self.push(Arc::new(PhysColumn::new(&input.fields[index].name, index)), field);
    }
}

/// The pre-projection (step 2) and what the later steps need to know about its layout.
struct PreProjection {
    /// The projection over the input.
    node: PlanNode,
    /// Its output: `__G<i>` group keys, `__A<i>` aggregate arguments, then for a table input
    /// `__K<j>` key columns and the tombstone flag, then `ROWTIME`.
    schema: RelSchema,
    /// Types of the group keys.
    group_types: Vec<SqlType>,
    /// The aggregate functions, one per `__A<i>` argument.
    aggs: Vec<AggFunc>,
    /// Number of group-key and argument columns (what a retraction must remember).
    values: usize,
    /// Number of the table's key columns (0 for a stream input).
    table_keys: usize,
}

impl Planner<'_> {
    /// Plans the aggregation part of `q` over `input`. Returns the node (aggregate, then HAVING),
    /// the select items rewritten over the aggregate's output, and the group key references.
    ///
    /// The steps: [`Self::grouping`] plans what is grouped and aggregated over the input,
    /// [`Self::pre_project`] evaluates the group keys and aggregate arguments, [`Self::retract`]
    /// (table input only) turns changes into retractions and additions,
    /// [`Self::repartition_groups`] brings each group to one partition, [`window_spec`] and
    /// [`Self::aggregate_node`] add the aggregate, and [`OverAggregate`] rewrites the select
    /// list and `HAVING` over its output.
    pub(super) fn plan_aggregate(
        &self,
        input: PlanNode,
        q: &Query,
    ) -> Result<(PlanNode, Vec<Item>, Vec<Expr>)> {
        let in_schema = input.schema().clone();
        let table_input = in_schema.kind == SourceKind::Table;
        check_aggregate_query(q, table_input)?;
        let grouping = self.grouping(q, &in_schema)?;
        let pre = self.pre_project(input, &in_schema, &grouping, table_input)?;
        let (mut node, group_types, aggs) = (pre.node, pre.group_types, pre.aggs);
        if table_input {
            node = self.retract(node, &pre.schema, grouping.groups.len(), pre.values, pre.table_keys);
        }
        node = self.repartition_groups(node, &grouping.groups, &group_types, &in_schema);
        let window = window_spec(q)?;
        let (mut node, out_schema) = self.aggregate_node(node, group_types, aggs, window, q, table_input);

        let over = OverAggregate { groups: &grouping.groups, calls: &grouping.calls, schema: &out_schema };
        let mut rewritten = Vec::with_capacity(grouping.items.len());
        for it in grouping.items {
            rewritten.push(Item { expr: over.rewrite(&it.expr)?, ..it });
        }
        if let Some(h) = &grouping.having {
            node = self.having(node, &over.rewrite(h)?, &out_schema, q)?;
        }
        Ok((node, rewritten, group_refs(grouping.groups.len()).collect()))
    }

    /// Step 1: plans the `GROUP BY` keys, the select list and `HAVING` over the input, and
    /// collects the distinct aggregate calls. Select items and `HAVING` may refer to the window
    /// bounds, which exist only after aggregation, so they are planned over the input plus
    /// `WINDOWSTART`/`WINDOWEND` for a windowed query.
    fn grouping(&self, q: &Query, in_schema: &RelSchema) -> Result<Grouping> {
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
        let calls = aggregate_calls(items.iter().map(|i| &i.expr).chain(having.iter()))?;
        Ok(Grouping { groups, items, having, calls })
    }

    /// Step 2: the projection feeding the aggregate — one column per group key (`__G<i>`), one
    /// argument per aggregate call (`__A<i>`), for a table input its key columns and tombstone
    /// flag (what the retraction step needs to match a change with the row it replaces), and
    /// `ROWTIME`. Decides the aggregate functions and which of them a table input allows.
    fn pre_project(
        &self,
        input: PlanNode,
        in_schema: &RelSchema,
        grouping: &Grouping,
        table_input: bool,
    ) -> Result<PreProjection> {
        let in_df = in_schema.df_schema()?;
        let mut cols = PreColumns::default();
        let group_types = self.group_columns(&grouping.groups, in_schema, &in_df, &mut cols)?;
        let aggs = self.aggregate_arguments(&grouping.calls, in_schema, &in_df, table_input, &mut cols)?;
        if table_input {
            check_undoable(&aggs)?;
        }
        let values = cols.fields.len();
        let table_keys = if table_input { table_row_identity(in_schema, &mut cols)? } else { 0 };
        let rowtime = in_schema.rowtime().ok_or_else(|| Error::Internal("input has no ROWTIME".into()))?;
        cols.pass(in_schema, rowtime, RelField::pseudo(None, ROWTIME, DataType::Int64));
        let schema = RelSchema { fields: cols.fields, kind: SourceKind::Stream, window: None };
        let node = PlanNode::Project(ProjectNode {
            input: Box::new(input),
            exprs: cols.exprs,
            schema: schema.clone(),
        });
        Ok(PreProjection { node, schema, group_types, aggs, values, table_keys })
    }

    /// The group-key columns `__G<i>` of the pre-projection; returns their types (a MAP cannot
    /// be grouped by).
    fn group_columns(
        &self,
        groups: &[Expr],
        in_schema: &RelSchema,
        in_df: &DFSchema,
        cols: &mut PreColumns,
    ) -> Result<Vec<SqlType>> {
        let in_arrow = in_schema.arrow();
        let mut group_types = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let p = self.exprs.physical(g, in_df)?;
            let t = SqlType::from_arrow(&p.data_type(&in_arrow)?)?;
            if matches!(t, SqlType::Map(..)) {
                return Err(Error::plan("cannot GROUP BY a MAP"));
            }
            cols.push(p, RelField::column(None, &format!("__G{i}"), &t, ColumnRole::Key));
            group_types.push(t);
        }
        Ok(group_types)
    }

    /// The argument columns `__A<i>` of the pre-projection, one per aggregate call (a call
    /// without arguments, `COUNT(*)`, counts the literal 1); returns the planned functions,
    /// which undo values when the input is a table.
    fn aggregate_arguments(
        &self,
        calls: &[Expr],
        in_schema: &RelSchema,
        in_df: &DFSchema,
        table_input: bool,
        cols: &mut PreColumns,
    ) -> Result<Vec<AggFunc>> {
        let in_arrow = in_schema.arrow();
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
            let p = self.exprs.physical(&first, in_df)?;
            let t = p.data_type(&in_arrow)?;
            let display = call.to_string().replace('"', "").to_uppercase();
            let mut func = AggFunc::plan(af.func.name(), af.params.distinct, args, &t, display)?;
            func.undo = table_input;
            cols.push(
                p,
                RelField {
                    qualifier: None,
                    name: format!("__A{i}"),
                    data_type: func.input.clone(),
                    role: FieldRole::Hidden,
                },
            );
            aggs.push(func);
        }
        Ok(aggs)
    }

    /// Step 3 (table input only): a [`RetractNode`] after the pre-projection, while the
    /// table's key still decides the partition. Its output is the new values, the previous
    /// values (`__O<i>`, group keys and arguments), and whether to add and to retract.
    fn retract(
        &self,
        node: PlanNode,
        pre_schema: &RelSchema,
        groups: usize,
        values: usize,
        table_keys: usize,
    ) -> PlanNode {
        let mut out = pre_schema.fields[..values].to_vec();
        for (i, f) in pre_schema.fields[groups..values].iter().enumerate() {
            out.push(RelField::hidden(&format!("__O{i}"), f.data_type.clone()));
        }
        out.push(RelField::hidden(ADD, DataType::Boolean));
        out.push(RelField::hidden(RETRACT, DataType::Boolean));
        out.push(RelField::pseudo(None, ROWTIME, DataType::Int64));
        PlanNode::Retract(RetractNode {
            input: Box::new(node),
            groups,
            values,
            keys: table_keys,
            store: format!("{}-Aggregate-Retract", self.id),
            schema: RelSchema { fields: out, kind: SourceKind::Stream, window: None },
        })
    }

    /// Step 4: re-keys the rows by their group keys (JSON-encoded) through an internal topic
    /// when rows of one group may sit in different partitions; see
    /// [`Self::needs_group_repartition`].
    fn repartition_groups(
        &self,
        node: PlanNode,
        groups: &[Expr],
        group_types: &[SqlType],
        in_schema: &RelSchema,
    ) -> PlanNode {
        if !self.needs_group_repartition(&node_source_topics(&node), groups, in_schema) {
            return node;
        }
        let keys =
            (0..groups.len()).map(|i| Arc::new(PhysColumn::new(&format!("__G{i}"), i)) as PhysExpr).collect();
        let key_codec = Codec {
            format: Format::Json,
            columns: group_types.iter().enumerate().map(|(i, t)| (format!("__G{i}"), t.clone())).collect(),
            wrap_single: false,
        };
        PlanNode::Repartition(RepartitionNode {
            input: Box::new(node),
            keys,
            key_codec,
            topic_suffix: format!("{}-Aggregate-GroupBy-repartition", self.id),
            partitions: None,
        })
    }

    /// Step 6: the [`AggregateNode`] and its output schema — group keys `__G<i>`, the window
    /// bounds of a windowed aggregate, one `__AGG<i>` per aggregate, `ROWTIME` and the
    /// tombstone flag. The output is a TABLE, windowed like the query.
    fn aggregate_node(
        &self,
        node: PlanNode,
        group_types: Vec<SqlType>,
        aggs: Vec<AggFunc>,
        window: Option<WindowSpec>,
        q: &Query,
        table_input: bool,
    ) -> (PlanNode, RelSchema) {
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
        let node = PlanNode::Aggregate(AggregateNode {
            input: Box::new(node),
            group_count: group_types.len(),
            aggs,
            window,
            emit_final: q.emit == Some(Emit::Final),
            retractions: table_input,
            store: format!("{}-Aggregate-Materialize", self.id),
            schema: out_schema.clone(),
        });
        (node, out_schema)
    }

    /// Step 7: `HAVING` (already rewritten over the aggregate's output) as a filter after the
    /// aggregate.
    fn having(&self, node: PlanNode, having: &Expr, out_schema: &RelSchema, q: &Query) -> Result<PlanNode> {
        let df = out_schema.df_schema()?;
        let predicate = self.exprs.physical(having, &df)?;
        Ok(PlanNode::Filter(FilterNode {
            input: Box::new(node),
            predicate,
            display: q.having.as_ref().map(display_sql).unwrap_or_default(),
        }))
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

/// The checks of an aggregate query that need nothing planned: ksqlDB has no global
/// aggregates, and a table's rows are not events in time.
fn check_aggregate_query(q: &Query, table_input: bool) -> Result<()> {
    if q.group_by.is_empty() {
        return Err(Error::plan("aggregate functions need GROUP BY (ksqlDB has no global aggregates)"));
    }
    if table_input && q.window.is_some() {
        return Err(Error::plan(
            "a TABLE cannot be aggregated in windows (its rows are current values, not events in time); window the stream the table is built from, or drop the WINDOW clause",
        ));
    }
    Ok(())
}

/// The distinct aggregate calls in `exprs`, in order of appearance (calls nested in a call
/// are left to the argument check).
fn aggregate_calls<'e>(exprs: impl Iterator<Item = &'e Expr>) -> Result<Vec<Expr>> {
    let mut calls: Vec<Expr> = Vec::new();
    for e in exprs {
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
    Ok(calls)
}

/// For a table input: passes the table's key columns (`__K<j>`) and its tombstone flag
/// through the pre-projection, so the retraction step can tell which row a change replaces
/// and whether it deletes it. Returns the number of key columns.
fn table_row_identity(in_schema: &RelSchema, cols: &mut PreColumns) -> Result<usize> {
    let keys = in_schema.key_indexes();
    if keys.is_empty() {
        return Err(Error::plan(
            "the aggregated TABLE has no PRIMARY KEY column, so its changes cannot be matched with the rows they replace",
        ));
    }
    for (j, &k) in keys.iter().enumerate() {
        cols.pass(in_schema, k, RelField::hidden(&format!("__K{j}"), in_schema.fields[k].data_type.clone()));
    }
    let t = in_schema.tombstone().ok_or_else(|| Error::Internal("table input without tombstone".into()))?;
    cols.pass(in_schema, t, RelField::hidden(TOMBSTONE, DataType::Boolean));
    Ok(keys.len())
}

/// Step 5: the window of a windowed aggregation, with its grace period and retention
/// (at least the window size plus the grace period).
fn window_spec(q: &Query) -> Result<Option<WindowSpec>> {
    let Some(w) = &q.window else { return Ok(None) };
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
    Ok(Some(WindowSpec { kind: w.kind, grace, retention }))
}

/// References to the aggregate's group-key columns.
fn group_refs(count: usize) -> impl Iterator<Item = Expr> {
    (0..count).map(|i| Expr::Column(DfColumn::from_name(format!("__G{i}"))))
}

/// Rewrites expressions planned over the input into expressions over the aggregate's output.
struct OverAggregate<'a> {
    /// The `GROUP BY` expressions, replaced by `__G<i>`.
    groups: &'a [Expr],
    /// The aggregate calls, replaced by `__AGG<i>`.
    calls: &'a [Expr],
    /// The aggregate's output.
    schema: &'a RelSchema,
}

impl OverAggregate<'_> {
    /// Replaces group-by expressions and aggregate calls by references to the aggregate's
    /// columns; what column reference is left must be a window bound or `ROWTIME`, otherwise
    /// the expression selects something neither grouped nor aggregated.
    fn rewrite(&self, e: &Expr) -> Result<Expr> {
        let t = e.clone().transform_down(|n| {
            if let Some(i) = self.groups.iter().position(|g| *g == n) {
                return Ok(Transformed::new(
                    Expr::Column(DfColumn::from_name(format!("__G{i}"))),
                    true,
                    TreeNodeRecursion::Jump,
                ));
            }
            if let Some(i) = self.calls.iter().position(|c| *c == n) {
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
                && (self.schema.index_of(&c.name).is_none() || c.relation.is_some())
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
