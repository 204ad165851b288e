//! The final projection: which select items become key, value and header columns of the
//! output, following ksqlDB's rules, and how `INSERT INTO` maps onto its target.

use std::sync::Arc;

use datafusion::common::Column as DfColumn;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::Column as PhysColumn;

use super::expr::{PhysExpr, display_sql};
use super::plan::{PlanNode, ProjectNode};
use super::schema::{
    FieldRole, ROWOFFSET, ROWPARTITION, ROWTIME, RelField, RelSchema, TOMBSTONE, WINDOWEND, WINDOWSTART,
};
use super::{Item, Planner, Purpose, QueryPlan};
use crate::catalog::{Column, ColumnRole, SourceDef};
use crate::error::{Error, Result};
use crate::parser::{Emit, Query, SourceKind, WindowKind};
use crate::types::SqlType;

/// Where the output key comes from.
pub(super) enum Keys {
    /// The input's key columns (plain projection, joins).
    Source,
    /// `PARTITION BY` expressions (over the input).
    PartitionBy(Vec<Expr>),
    /// `GROUP BY` expressions (over the aggregate's output).
    Group(Vec<Expr>),
}

fn column_ref(e: &Expr) -> Option<&DfColumn> {
    match e {
        Expr::Column(c) => Some(c),
        _ => None,
    }
}

fn field_of<'a>(schema: &'a RelSchema, c: &DfColumn) -> Option<(usize, &'a RelField)> {
    schema.fields.iter().enumerate().find(|(_, f)| {
        f.name == c.name
            && (c.relation.is_none() || c.relation.as_ref().map(|r| r.table()) == f.qualifier.as_deref())
    })
}

fn shown(e: &Expr) -> String {
    e.to_string().replace('"', "")
}

/// What the output is written for, as the steps of [`Planner::finish`] need it.
struct Destination<'a> {
    purpose: Purpose<'a>,
    /// A persistent query (`CREATE … AS SELECT`, `INSERT INTO`), not a push query.
    persistent: bool,
    /// The stream or table written (empty for a push query).
    sink_name: String,
}

impl<'a> Destination<'a> {
    fn new(purpose: Purpose<'a>) -> Self {
        let sink_name = match purpose {
            Purpose::Create { name, .. } => name.to_string(),
            Purpose::Insert { target } => target.name.clone(),
            Purpose::Push => String::new(),
        };
        Destination { purpose, persistent: purpose.is_persistent(), sink_name }
    }

    /// Whether the query must project its key: it creates a new stream or table, whose key
    /// columns are the ones projected (`INSERT INTO` writes the target's own columns).
    fn must_project_key(&self) -> bool {
        self.persistent && !matches!(self.purpose, Purpose::Insert { .. })
    }

    /// Step 1: whether the query's result fits the target — `LIMIT` only in transient
    /// queries, `CREATE` of the kind the query produces, `INSERT INTO` of streams only.
    fn check(&self, input: &RelSchema, q: &Query) -> Result<()> {
        if self.persistent && q.limit.is_some() {
            return Err(Error::plan(
                "LIMIT is only allowed in push and pull queries, not in persistent queries",
            ));
        }
        match self.purpose {
            Purpose::Create { kind, .. } if kind != input.kind => Err(Error::plan(format!(
                "invalid result type: the SELECT produces a {}; use CREATE {} AS SELECT instead",
                input.kind, input.kind
            ))),
            Purpose::Insert { target }
                if target.kind != SourceKind::Stream || input.kind != SourceKind::Stream =>
            {
                Err(Error::plan(format!(
                    "INSERT INTO … SELECT writes streams only: {} is a {} and the query produces a {}",
                    target.name,
                    target.kind.to_string().to_lowercase(),
                    input.kind.to_string().to_lowercase()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Step 2 for [`Keys::Source`]: the items that project a key column of the input (each
    /// once, not wrapped in `AS_VALUE`) are keys; header columns stay headers in persistent
    /// queries. A new stream or table must project every key column of the input — except
    /// after a join, where projecting any of the join's key columns is enough.
    fn source_key_roles(&self, node: &PlanNode, items: &[Item]) -> Result<Vec<ColumnRole>> {
        let input = node.schema();
        let mut roles = vec![ColumnRole::Value; items.len()];
        let mut used = std::collections::HashSet::new();
        for (i, it) in items.iter().enumerate() {
            let Some((idx, f)) = column_ref(&it.expr).and_then(|c| field_of(input, c)) else {
                continue;
            };
            match &f.role {
                FieldRole::Column(ColumnRole::Key) if !it.as_value && used.insert(idx) => {
                    roles[i] = ColumnRole::Key
                }
                FieldRole::Column(r @ (ColumnRole::Headers | ColumnRole::Header(_))) if self.persistent => {
                    roles[i] = r.clone()
                }
                _ => {}
            }
        }
        if self.must_project_key() {
            let missing: Vec<&str> = input
                .key_indexes()
                .iter()
                .filter(|k| !used.contains(k))
                .map(|&k| input.fields[k].name.as_str())
                .collect();
            let joined = matches!(node, PlanNode::Join(_))
                || matches!(&node, PlanNode::Filter(f) if matches!(*f.input, PlanNode::Join(_)));
            if !missing.is_empty() && (!joined || used.is_empty()) {
                return Err(Error::plan(format!(
                    "key missing from projection: the query used to build {} must include the key column(s) {} in its projection",
                    self.sink_name,
                    missing.join(", ")
                )));
            }
        }
        Ok(roles)
    }

    /// Step 2 for [`Keys::PartitionBy`] and [`Keys::Group`]: the items equal to a key
    /// expression (not wrapped in `AS_VALUE`) are keys; a new stream or table must project
    /// every key expression. `what` names the expressions in the error ("partitioning",
    /// "grouping") and `shown(n, e)` shows the `n`-th of them as written.
    fn expression_key_roles(
        &self,
        exprs: &[Expr],
        items: &[Item],
        what: &str,
        shown: impl Fn(usize, &Expr) -> String,
    ) -> Result<Vec<ColumnRole>> {
        let mut roles = vec![ColumnRole::Value; items.len()];
        for (n, p) in exprs.iter().enumerate() {
            match items.iter().position(|it| !it.as_value && it.expr == *p) {
                Some(i) => roles[i] = ColumnRole::Key,
                None if self.must_project_key() => {
                    return Err(Error::plan(format!(
                        "the query used to build {} must include the {what} expression {} in its projection",
                        self.sink_name,
                        shown(n, p)
                    )));
                }
                None => {}
            }
        }
        Ok(roles)
    }
}

/// A column of the output, planned.
struct OutColumn {
    name: String,
    ty: SqlType,
    role: ColumnRole,
    expr: PhysExpr,
}

impl Planner<'_> {
    /// Adds the final projection and describes the output: [`Destination::check`] checks the
    /// result fits where it goes, [`Self::item_roles`] decides which items are keys,
    /// [`Self::output_columns`] plans the items, [`insert_columns`] maps them onto the
    /// target of `INSERT INTO`, and [`project_output`] adds the projection.
    pub(super) fn finish(
        &self,
        node: PlanNode,
        items: Vec<Item>,
        keys: Keys,
        q: &Query,
        purpose: Purpose<'_>,
    ) -> Result<QueryPlan> {
        let input = node.schema().clone();
        let dest = Destination::new(purpose);
        dest.check(&input, q)?;
        let roles = self.item_roles(&dest, &node, &items, &keys, q)?;
        let mut columns = self.output_columns(&input, &items, roles, dest.persistent)?;
        if let Purpose::Insert { target } = purpose {
            columns = insert_columns(target, columns)?;
        }
        let sources = node.sources();
        let (root, columns, window) = project_output(node, &input, columns, dest.persistent)?;
        if dest.persistent
            && !columns.iter().any(|c| c.role == ColumnRole::Value)
            && input.kind == SourceKind::Stream
        {
            tracing::debug!(sink = %dest.sink_name, "query writes no value columns");
        }
        Ok(QueryPlan {
            root,
            columns,
            kind: input.kind,
            window,
            emit: q.emit.unwrap_or(Emit::Changes),
            limit: q.limit,
            sources,
        })
    }

    /// Step 2: the role of each select item in the output — key or value, or header — by
    /// where the output's key comes from.
    fn item_roles(
        &self,
        dest: &Destination<'_>,
        node: &PlanNode,
        items: &[Item],
        keys: &Keys,
        q: &Query,
    ) -> Result<Vec<ColumnRole>> {
        match keys {
            Keys::Source => dest.source_key_roles(node, items),
            Keys::PartitionBy(exprs) => {
                // PARTITION BY NULL: no key.
                if exprs.len() == 1 && matches!(&exprs[0], Expr::Literal(v, _) if v.is_null()) {
                    return Ok(vec![ColumnRole::Value; items.len()]);
                }
                dest.expression_key_roles(exprs, items, "partitioning", |n, p| {
                    q.partition_by.get(n).map(display_sql).unwrap_or_else(|| shown(p))
                })
            }
            Keys::Group(exprs) => dest.expression_key_roles(exprs, items, "grouping", |g, _| {
                q.group_by.get(g).map(display_sql).unwrap_or_default()
            }),
        }
    }

    /// Step 3: plans each select item over the input. A persistent query may not select a
    /// pseudo-column under its own name (alias it), except the window bounds of a windowed
    /// result, which are dropped here because the windowed key carries them.
    fn output_columns(
        &self,
        input: &RelSchema,
        items: &[Item],
        roles: Vec<ColumnRole>,
        persistent: bool,
    ) -> Result<Vec<OutColumn>> {
        let df = input.df_schema()?;
        let arrow = input.arrow();
        let mut columns = Vec::new();
        for (it, role) in items.iter().zip(roles) {
            if persistent
                && !it.aliased
                && let Some(c) = column_ref(&it.expr)
                && in_windowed_key(input, c)?
            {
                continue;
            }
            let expr = self.exprs.physical(&it.expr, &df)?;
            let ty = SqlType::from_arrow(&expr.data_type(&arrow)?)?;
            columns.push(OutColumn { name: it.name.clone(), ty, role, expr });
        }
        Ok(columns)
    }
}

/// For an unaliased column `c` selected by a persistent query: whether it is a window bound
/// that the windowed key already carries; an error if it is another pseudo-column, whose
/// name is reserved.
fn in_windowed_key(input: &RelSchema, c: &DfColumn) -> Result<bool> {
    let pseudo = field_of(input, c).is_some_and(|(_, f)| f.role == FieldRole::Pseudo);
    if !pseudo {
        return Ok(false);
    }
    if matches!(c.name.as_str(), WINDOWSTART | WINDOWEND) && input.window.is_some() {
        return Ok(true);
    }
    if matches!(c.name.as_str(), ROWTIME | ROWPARTITION | ROWOFFSET | WINDOWSTART | WINDOWEND) {
        return Err(Error::plan(format!(
            "reserved column name in the select list: {}; alias it (e.g. {} AS {}_COPY)",
            c.name, c.name, c.name
        )));
    }
    Ok(false)
}

/// Step 4 (`INSERT INTO`): orders the query's columns like the target's, taking the
/// target's roles; each must exist in the target with a type it can be written as, and
/// the target must have no other columns.
fn insert_columns(target: &SourceDef, mut columns: Vec<OutColumn>) -> Result<Vec<OutColumn>> {
    let mut ordered = Vec::new();
    let mut missing = Vec::new();
    for col in &target.columns {
        match columns.iter().position(|k| k.name == col.name) {
            Some(i) => {
                let c = columns.remove(i);
                if !castable(&c.ty, &col.ty) {
                    return Err(Error::plan(format!(
                        "INSERT INTO {}: column {} is {} in the query but {} in the target",
                        target.name, col.name, c.ty, col.ty
                    )));
                }
                ordered.push(OutColumn {
                    name: col.name.clone(),
                    ty: col.ty.clone(),
                    role: col.role.clone(),
                    expr: c.expr,
                });
            }
            None => missing.push(col.name.as_str()),
        }
    }
    if !missing.is_empty() || !columns.is_empty() {
        let extra: Vec<&str> = columns.iter().map(|k| k.name.as_str()).collect();
        return Err(Error::plan(format!(
            "INSERT INTO {}: the query's columns must match the target's; missing: [{}], not in the target: [{}]",
            target.name,
            missing.join(", "),
            extra.join(", ")
        )));
    }
    Ok(ordered)
}

/// Step 5: the final projection over `node` — the output columns (with their roles in a
/// persistent query, all values in a push query), then `ROWTIME`, the window bounds of a
/// windowed result and the tombstone flag of a table passed through, all unqualified — with
/// the join buffers narrowed to what it reads. Returns it with the sink's columns and the
/// output's window.
fn project_output(
    node: PlanNode,
    input: &RelSchema,
    out: Vec<OutColumn>,
    persistent: bool,
) -> Result<(PlanNode, Vec<Column>, Option<WindowKind>)> {
    let mut fields = Vec::new();
    let mut exprs = Vec::new();
    let mut columns = Vec::new();
    for OutColumn { name, ty, role, expr } in out {
        fields.push(RelField::column(
            None,
            &name,
            &ty,
            if persistent { role.clone() } else { ColumnRole::Value },
        ));
        columns.push(Column { name, ty, role });
        exprs.push(expr);
    }
    let pass = |name: &str, idx: usize| Arc::new(PhysColumn::new(name, idx)) as PhysExpr;
    let rowtime = input.rowtime().ok_or_else(|| Error::Internal("no ROWTIME in the input".into()))?;
    fields.push(input.fields[rowtime].clone());
    exprs.push(pass(ROWTIME, rowtime));
    let window = if let (Some(w), Some((ws, we))) = (input.window, input.window_indexes()) {
        fields.push(RelField::pseudo(None, WINDOWSTART, input.fields[ws].data_type.clone()));
        exprs.push(pass(WINDOWSTART, ws));
        fields.push(RelField::pseudo(None, WINDOWEND, input.fields[we].data_type.clone()));
        exprs.push(pass(WINDOWEND, we));
        Some(w)
    } else {
        None
    };
    if let Some(t) = input.tombstone() {
        fields.push(RelField::hidden(TOMBSTONE, datafusion::arrow::datatypes::DataType::Boolean));
        exprs.push(pass(TOMBSTONE, t));
    }
    for f in &mut fields {
        f.qualifier = None;
    }
    let schema = RelSchema { fields, kind: input.kind, window };
    let mut root = PlanNode::Project(ProjectNode { input: Box::new(node), exprs, schema });
    super::prune::narrow_join_buffers(&mut root);
    Ok((root, columns, window))
}

/// Whether a query column of type `from` can be written into a target column of type `to`.
fn castable(from: &SqlType, to: &SqlType) -> bool {
    from == to
        || (from.is_numeric() && to.is_numeric())
        || matches!((from, to), (SqlType::Int | SqlType::Bigint, SqlType::Timestamp))
}
