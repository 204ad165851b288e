//! The final projection: which select items become key, value and header columns of the
//! output, following ksqlDB's rules, and how `INSERT INTO` maps onto its target.

use std::sync::Arc;

use datafusion::common::Column as DfColumn;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::Column as PhysColumn;

use super::plan::{PlanNode, ProjectNode};
use super::schema::{
    FieldRole, ROWOFFSET, ROWPARTITION, ROWTIME, RelField, RelSchema, TOMBSTONE, WINDOWEND, WINDOWSTART,
};
use super::{Item, Planner, Purpose, QueryPlan};
use crate::catalog::{Column, ColumnRole};
use crate::error::{Error, Result};
use crate::parser::{Emit, Query, SourceKind};
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

impl Planner<'_> {
    /// Adds the final projection and describes the output.
    pub(super) fn finish(
        &self,
        node: PlanNode,
        items: Vec<Item>,
        keys: Keys,
        q: &Query,
        purpose: Purpose<'_>,
    ) -> Result<QueryPlan> {
        let input = node.schema().clone();
        let persistent = purpose.is_persistent();
        let sink_name = match purpose {
            Purpose::Create { name, .. } => name.to_string(),
            Purpose::Insert { target } => target.name.clone(),
            Purpose::Push => String::new(),
        };
        if persistent && q.limit.is_some() {
            return Err(Error::plan(
                "LIMIT is only allowed in push and pull queries, not in persistent queries",
            ));
        }
        match purpose {
            Purpose::Create { kind, .. } if kind != input.kind => {
                return Err(Error::plan(format!(
                    "invalid result type: the SELECT produces a {}; use CREATE {} AS SELECT instead",
                    input.kind, input.kind
                )));
            }
            Purpose::Insert { target }
                if target.kind != SourceKind::Stream || input.kind != SourceKind::Stream =>
            {
                return Err(Error::plan(format!(
                    "INSERT INTO … SELECT writes streams only: {} is a {} and the query produces a {}",
                    target.name,
                    target.kind.to_string().to_lowercase(),
                    input.kind.to_string().to_lowercase()
                )));
            }
            _ => {}
        }

        // Roles of the items.
        let mut roles = vec![ColumnRole::Value; items.len()];
        match &keys {
            Keys::Source => {
                let mut used = std::collections::HashSet::new();
                for (i, it) in items.iter().enumerate() {
                    let Some((idx, f)) = column_ref(&it.expr).and_then(|c| field_of(&input, c)) else {
                        continue;
                    };
                    match &f.role {
                        FieldRole::Column(ColumnRole::Key) if !it.as_value && used.insert(idx) => {
                            roles[i] = ColumnRole::Key
                        }
                        FieldRole::Column(r @ (ColumnRole::Headers | ColumnRole::Header(_)))
                            if persistent =>
                        {
                            roles[i] = r.clone()
                        }
                        _ => {}
                    }
                }
                if persistent && !matches!(purpose, Purpose::Insert { .. }) {
                    let key_fields = input.key_indexes();
                    let missing: Vec<&str> = key_fields
                        .iter()
                        .filter(|k| !used.contains(k))
                        .map(|&k| input.fields[k].name.as_str())
                        .collect();
                    let joined = matches!(node, PlanNode::Join(_))
                        || matches!(&node, PlanNode::Filter(f) if matches!(*f.input, PlanNode::Join(_)));
                    if !missing.is_empty() && (!joined || used.is_empty()) {
                        return Err(Error::plan(format!(
                            "key missing from projection: the query used to build {sink_name} must include the key column(s) {} in its projection",
                            missing.join(", ")
                        )));
                    }
                }
            }
            Keys::PartitionBy(exprs) => {
                let null_key = exprs.len() == 1 && matches!(&exprs[0], Expr::Literal(v, _) if v.is_null());
                if !null_key {
                    for (n, p) in exprs.iter().enumerate() {
                        match items.iter().position(|it| !it.as_value && it.expr == *p) {
                            Some(i) => roles[i] = ColumnRole::Key,
                            None if persistent && !matches!(purpose, Purpose::Insert { .. }) => {
                                return Err(Error::plan(format!(
                                    "the query used to build {sink_name} must include the partitioning expression {} in its projection",
                                    q.partition_by
                                        .get(n)
                                        .map(super::expr::display_sql)
                                        .unwrap_or_else(|| shown(p))
                                )));
                            }
                            None => {}
                        }
                    }
                }
            }
            Keys::Group(exprs) => {
                for (g, p) in exprs.iter().enumerate() {
                    match items.iter().position(|it| !it.as_value && it.expr == *p) {
                        Some(i) => roles[i] = ColumnRole::Key,
                        None if persistent && !matches!(purpose, Purpose::Insert { .. }) => {
                            return Err(Error::plan(format!(
                                "the query used to build {sink_name} must include the grouping expression {} in its projection",
                                q.group_by.get(g).map(super::expr::display_sql).unwrap_or_default()
                            )));
                        }
                        None => {}
                    }
                }
            }
        }

        let df = input.df_schema()?;
        let arrow = input.arrow();
        let mut fields = Vec::new();
        let mut exprs = Vec::new();
        let mut kept: Vec<(String, SqlType, ColumnRole, super::expr::PhysExpr)> = Vec::new();
        for (it, role) in items.iter().zip(roles) {
            if persistent
                && !it.aliased
                && let Some(c) = column_ref(&it.expr)
            {
                let pseudo = field_of(&input, c).is_some_and(|(_, f)| f.role == FieldRole::Pseudo);
                if pseudo {
                    if matches!(c.name.as_str(), WINDOWSTART | WINDOWEND) && input.window.is_some() {
                        continue; // part of the windowed key already
                    }
                    if matches!(c.name.as_str(), ROWTIME | ROWPARTITION | ROWOFFSET | WINDOWSTART | WINDOWEND)
                    {
                        return Err(Error::plan(format!(
                            "reserved column name in the select list: {}; alias it (e.g. {} AS {}_COPY)",
                            c.name, c.name, c.name
                        )));
                    }
                }
            }
            let p = self.exprs.physical(&it.expr, &df)?;
            let ty = SqlType::from_arrow(&p.data_type(&arrow)?)?;
            kept.push((it.name.clone(), ty, role, p));
        }
        if let Purpose::Insert { target } = purpose {
            let mut ordered = Vec::new();
            let mut missing = Vec::new();
            for col in &target.columns {
                match kept.iter().position(|k| k.0 == col.name) {
                    Some(i) => {
                        let (_, ty, _, p) = kept.remove(i);
                        if !castable(&ty, &col.ty) {
                            return Err(Error::plan(format!(
                                "INSERT INTO {}: column {} is {} in the query but {} in the target",
                                target.name, col.name, ty, col.ty
                            )));
                        }
                        ordered.push((col.name.clone(), col.ty.clone(), col.role.clone(), p));
                    }
                    None => missing.push(col.name.as_str()),
                }
            }
            if !missing.is_empty() || !kept.is_empty() {
                let extra: Vec<&str> = kept.iter().map(|k| k.0.as_str()).collect();
                return Err(Error::plan(format!(
                    "INSERT INTO {}: the query's columns must match the target's; missing: [{}], not in the target: [{}]",
                    target.name,
                    missing.join(", "),
                    extra.join(", ")
                )));
            }
            kept = ordered;
        }
        let mut columns = Vec::new();
        for (name, ty, role, p) in kept {
            fields.push(RelField::column(
                None,
                &name,
                &ty,
                if persistent { role.clone() } else { ColumnRole::Value },
            ));
            columns.push(Column { name, ty, role });
            exprs.push(p);
        }
        let pass = |name: &str, idx: usize| Arc::new(PhysColumn::new(name, idx)) as super::expr::PhysExpr;
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
        let sources = node.sources();
        let mut root = PlanNode::Project(ProjectNode { input: Box::new(node), exprs, schema });
        super::prune::narrow_join_buffers(&mut root);
        if persistent
            && !columns.iter().any(|c| c.role == ColumnRole::Value)
            && input.kind == SourceKind::Stream
        {
            tracing::debug!(sink = %sink_name, "query writes no value columns");
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
}

/// Whether a query column of type `from` can be written into a target column of type `to`.
fn castable(from: &SqlType, to: &SqlType) -> bool {
    from == to
        || (from.is_numeric() && to.is_numeric())
        || matches!((from, to), (SqlType::Int | SqlType::Bigint, SqlType::Timestamp))
}
