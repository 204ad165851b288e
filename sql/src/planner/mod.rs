//! The planner: a `SELECT` becomes a [`QueryPlan`] — a tree of streaming operators whose
//! expressions DataFusion has planned.
//!
//! ```text
//!  Query ──► Scan / Join ──► Filter (WHERE)
//!        ──► [aggregation] Project(group keys, arguments) ─► [Repartition] ─► Aggregate ─► Filter (HAVING)
//!        ──► Project (select list, key/value/header roles of the output)
//! ```
//!
//! Select items, `WHERE`, `GROUP BY`, `HAVING` and `PARTITION BY` expressions are planned by
//! DataFusion into logical expressions over the input schema. For aggregations, aggregate
//! calls and group-by expressions are then replaced by references to the aggregation's output
//! columns — the same technique DataFusion uses for its own `Aggregate` — and everything is
//! turned into physical expressions.
//!
//! The output's key follows ksqlDB: the source key (plain projections), the `PARTITION BY`
//! expressions, the `GROUP BY` expressions, or the join key; persistent queries must project
//! it.

mod aggregate;
pub mod expr;
mod join;
mod output;
pub mod plan;
mod prune;
pub mod schema;

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column as DfColumn, DFSchema};
use datafusion::logical_expr::Expr;
use sqlparser::ast::SelectItem;

use crate::catalog::{Catalog, Column, SourceDef};
use crate::error::{Error, Result};
use crate::parser::{Emit, Query, SourceKind, WindowKind};
use expr::ExprPlanner;
use plan::{FilterNode, PlanNode, ScanNode};
use schema::{FieldRole, RelSchema};

pub use plan::WindowSpec;

/// What the query is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// `CREATE STREAM|TABLE name AS SELECT`.
    Create {
        /// Requested output kind.
        kind: SourceKind,
        /// Name of the new source.
        name: &'a str,
    },
    /// `INSERT INTO target SELECT`.
    Insert {
        /// The existing target.
        target: &'a SourceDef,
    },
    /// A transient push query (`EMIT CHANGES`).
    Push,
}

impl Purpose<'_> {
    fn is_persistent(&self) -> bool {
        !matches!(self, Purpose::Push)
    }
}

/// A planned query.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The operator tree; its schema is the output.
    pub root: PlanNode,
    /// Output columns with their roles (keys, values, headers) — the sink's columns.
    pub columns: Vec<Column>,
    /// Stream or table output.
    pub kind: SourceKind,
    /// Window of the output keys.
    pub window: Option<WindowKind>,
    /// `EMIT CHANGES` or `EMIT FINAL`.
    pub emit: Emit,
    /// `LIMIT`.
    pub limit: Option<u64>,
    /// Sources read.
    pub sources: Vec<Arc<SourceDef>>,
}

impl QueryPlan {
    /// The plan as text (EXPLAIN).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.root.describe(0, &mut out);
        out
    }
}

/// A select item after planning: output name and logical expression over the input.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub name: String,
    pub expr: Expr,
    /// Written with `AS`.
    pub aliased: bool,
    /// Wrapped in `AS_VALUE(…)`: never a key.
    pub as_value: bool,
}

/// Plans queries against a catalog.
pub struct Planner<'a> {
    /// Streams and tables.
    pub catalog: &'a Catalog,
    /// DataFusion expression planning.
    pub exprs: &'a ExprPlanner,
    /// Partition count of a topic (`None`: unknown topic).
    pub partitions: &'a dyn Fn(&str) -> Option<i32>,
    /// Query id, prefix of state stores and internal topics.
    pub id: &'a str,
}

impl Planner<'_> {
    /// Plans a `SELECT` for a persistent or push query.
    pub fn plan(&self, q: &Query, purpose: Purpose<'_>) -> Result<QueryPlan> {
        if let (Purpose::Push, None) = (&purpose, q.emit) {
            return Err(Error::Internal("push query without EMIT".into()));
        }
        let mut node = if q.joins.is_empty() {
            let src = self.catalog.source(&q.from.name)?;
            PlanNode::Scan(ScanNode { schema: RelSchema::of_source(&src, q.from.qualifier()), source: src })
        } else {
            self.plan_joins(q)?
        };
        if let Some(w) = &q.selection {
            node = self.filter(node, w, "WHERE")?;
        }
        let is_aggregate = !q.group_by.is_empty() || self.has_aggregates(q)?;
        if q.window.is_some() && !is_aggregate {
            return Err(Error::plan("WINDOW needs an aggregation (GROUP BY with COUNT, SUM, …)"));
        }
        if q.having.is_some() && !is_aggregate {
            return Err(Error::plan("HAVING needs GROUP BY"));
        }
        if is_aggregate && !q.partition_by.is_empty() {
            return Err(Error::plan(
                "PARTITION BY cannot be combined with GROUP BY; the output is keyed by the GROUP BY expressions",
            ));
        }
        if q.emit == Some(Emit::Final) && q.window.is_none() {
            return Err(Error::plan("EMIT FINAL is only supported for windowed aggregations"));
        }
        if node.schema().kind == SourceKind::Table && !q.partition_by.is_empty() {
            return Err(Error::plan(
                "PARTITION BY is only allowed on streams; tables are keyed by their primary key",
            ));
        }
        let (node, items, keys) = if is_aggregate {
            let (node, items, keys) = self.plan_aggregate(node, q)?;
            (node, items, output::Keys::Group(keys))
        } else {
            let df = node.schema().df_schema()?;
            let items = self.items(&q.projection, node.schema(), &df)?;
            let keys = if q.partition_by.is_empty() {
                output::Keys::Source
            } else {
                let mut exprs = Vec::new();
                for p in &q.partition_by {
                    exprs.push(self.exprs.logical(p, &df)?);
                }
                output::Keys::PartitionBy(exprs)
            };
            (node, items, keys)
        };
        self.finish(node, items, keys, q, purpose)
    }

    /// Whether the select list or HAVING calls an aggregate function.
    fn has_aggregates(&self, q: &Query) -> Result<bool> {
        for item in &q.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item
                && contains_aggregate_call(e)
            {
                return Ok(true);
            }
        }
        Ok(q.having.as_ref().is_some_and(contains_aggregate_call))
    }

    /// Adds a filter over `node`'s schema.
    pub(crate) fn filter(
        &self,
        node: PlanNode,
        predicate: &sqlparser::ast::Expr,
        clause: &str,
    ) -> Result<PlanNode> {
        let df = node.schema().df_schema()?;
        let logical = self.exprs.logical(predicate, &df)?;
        if has_aggregate(&logical) {
            return Err(Error::plan(format!("aggregate functions are not allowed in {clause}; use HAVING")));
        }
        let physical = self.exprs.physical(&logical, &df)?;
        let ty = physical.data_type(&node.schema().arrow())?;
        if ty != datafusion::arrow::datatypes::DataType::Boolean {
            return Err(Error::plan(format!(
                "{clause} must be a boolean condition, but `{}` is {ty}",
                expr::display_sql(predicate)
            )));
        }
        Ok(PlanNode::Filter(FilterNode {
            input: Box::new(node),
            predicate: physical,
            display: expr::display_sql(predicate),
        }))
    }

    /// Expands and plans the select list over `schema`.
    pub(crate) fn items(
        &self,
        projection: &[SelectItem],
        schema: &RelSchema,
        df: &DFSchema,
    ) -> Result<Vec<Item>> {
        let joined = schema
            .fields
            .iter()
            .filter_map(|f| f.qualifier.as_deref())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        let mut items = Vec::new();
        for (i, item) in projection.iter().enumerate() {
            match item {
                SelectItem::Wildcard(_) => {
                    items.extend(wildcard(schema, None, joined));
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let q = kind.to_string().replace('"', "");
                    let expanded = wildcard(schema, Some(&q), joined);
                    if expanded.is_empty() {
                        return Err(Error::plan(format!(
                            "{q}.* matches no source; use a source name or alias from FROM"
                        )));
                    }
                    items.extend(expanded);
                }
                SelectItem::UnnamedExpr(e) => {
                    let (inner, as_value) = strip_as_value(e);
                    let expr = self.exprs.logical(inner, df)?;
                    let name = default_name(&expr, i);
                    items.push(Item { name, expr, aliased: false, as_value });
                }
                SelectItem::ExprWithAlias { expr: e, alias } => {
                    let (inner, as_value) = strip_as_value(e);
                    let expr = self.exprs.logical(inner, df)?;
                    items.push(Item { name: alias.value.clone(), expr, aliased: true, as_value });
                }
                other => return Err(Error::Unsupported(format!("select item {other}"))),
            }
        }
        let mut seen = std::collections::HashSet::new();
        for it in &items {
            if !seen.insert(it.name.as_str()) {
                return Err(Error::plan(format!(
                    "the select list has two columns named {}; rename one with AS",
                    it.name
                )));
            }
        }
        Ok(items)
    }
}

/// `AS_VALUE(x)` marks a projected key column to be written as a value column.
fn strip_as_value(e: &sqlparser::ast::Expr) -> (&sqlparser::ast::Expr, bool) {
    if let sqlparser::ast::Expr::Function(f) = e
        && f.name.to_string().eq_ignore_ascii_case("AS_VALUE")
        && let sqlparser::ast::FunctionArguments::List(list) = &f.args
        && let [sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(inner))] =
            list.args.as_slice()
    {
        return (inner, true);
    }
    (e, false)
}

/// `*` or `q.*`: user columns (and window bounds of windowed relations).
fn wildcard(schema: &RelSchema, qualifier: Option<&str>, joined: bool) -> Vec<Item> {
    schema
        .fields
        .iter()
        .filter(|f| match &f.role {
            FieldRole::Column(_) => true,
            FieldRole::Pseudo => {
                schema.window.is_some()
                    && !joined
                    && (f.name == schema::WINDOWSTART || f.name == schema::WINDOWEND)
            }
            FieldRole::Hidden => false,
        })
        .filter(|f| qualifier.is_none_or(|q| f.qualifier.as_deref() == Some(q)))
        .map(|f| {
            let name = match (&f.qualifier, joined) {
                (Some(q), true) => format!("{q}_{}", f.name),
                _ => f.name.clone(),
            };
            Item {
                name,
                expr: Expr::Column(DfColumn::new(
                    f.qualifier.as_ref().map(|q| datafusion::common::TableReference::bare(q.as_str())),
                    f.name.clone(),
                )),
                aliased: false,
                as_value: false,
            }
        })
        .collect()
}

/// ksqlDB's name for an unaliased select item: the column name, the last struct field, or
/// `KSQL_COL_n`.
fn default_name(e: &Expr, index: usize) -> String {
    match e {
        Expr::Column(c) => c.name.clone(),
        Expr::ScalarFunction(f) if f.func.name() == "get_field" => match f.args.last() {
            Some(Expr::Literal(v, _)) => v.to_string().trim_matches('\'').to_string(),
            _ => format!("KSQL_COL_{index}"),
        },
        Expr::Alias(a) => a.name.clone(),
        _ => format!("KSQL_COL_{index}"),
    }
}

/// Whether a logical expression contains an aggregate call.
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|n| {
        if matches!(n, Expr::AggregateFunction(_)) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a parsed expression calls a known aggregate function (before planning).
fn contains_aggregate_call(e: &sqlparser::ast::Expr) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(e, |e| {
        if let sqlparser::ast::Expr::Function(f) = e {
            let name = f.name.to_string().replace('"', "").to_uppercase();
            if crate::functions::AGGREGATE_NAMES.contains(&name.as_str()) || name == "ARRAY_AGG" {
                found = true;
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}
