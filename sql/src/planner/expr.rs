//! Expression planning with DataFusion: `sqlparser` expressions → logical `Expr` (names,
//! types and functions resolved by DataFusion's `SqlToRel`) → `PhysicalExpr` (type coercion
//! applied), evaluated on record batches by the operators.
//!
//! Before DataFusion sees an expression, ksqlDB-specific syntax is rewritten: struct deref
//! `col->field` becomes field access, and a few ksqlDB function names map to DataFusion's
//! (`UCASE` → `upper`, `LCASE` → `lower`, `LEN` → `character_length`, `IFNULL` → `coalesce`).

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr as SqlExpr, ExprWithAlias, Ident, ObjectNamePart, visit_expressions_mut,
};

use crate::error::{Error, Result};
use crate::functions;

/// A planned physical expression.
pub type PhysExpr = Arc<dyn PhysicalExpr>;

/// ksqlDB function names DataFusion knows under another name.
const RENAMES: &[(&str, &str)] = &[
    ("UCASE", "upper"),
    ("LCASE", "lower"),
    ("LEN", "character_length"),
    ("IFNULL", "coalesce"),
    ("ARRAY_LENGTH", "array_length"),
];

/// Plans expressions against relation schemas.
pub struct ExprPlanner {
    state: SessionState,
}

impl std::fmt::Debug for ExprPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExprPlanner")
    }
}

impl ExprPlanner {
    /// A planner with DataFusion's default functions plus Brook's aggregates.
    pub fn new() -> Result<Self> {
        let mut state = SessionStateBuilder::new().with_default_features().build();
        for udaf in functions::planner_udafs() {
            state.register_udaf(udaf)?;
        }
        Ok(ExprPlanner { state })
    }

    /// The DataFusion session (for function listings).
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// Plans a `sqlparser` expression into a logical expression over `schema`.
    pub fn logical(&self, expr: &SqlExpr, schema: &DFSchema) -> Result<Expr> {
        let mut e = expr.clone();
        rewrite_ksql(&mut e);
        self.state
            .create_logical_expr_from_sql_expr(ExprWithAlias { expr: e, alias: None }, schema)
            .map_err(|err| annotate(Error::from(err), expr, schema))
    }

    /// Plans a logical expression into a physical one (with type coercion).
    pub fn physical(&self, expr: &Expr, schema: &DFSchema) -> Result<PhysExpr> {
        Ok(self.state.create_physical_expr(expr.clone(), schema)?)
    }

    /// Plans a `sqlparser` expression straight to a physical expression.
    pub fn plan(&self, expr: &SqlExpr, schema: &DFSchema) -> Result<PhysExpr> {
        let logical = self.logical(expr, schema)?;
        self.physical(&logical, schema)
    }

    /// Names of DataFusion's scalar functions.
    pub fn scalar_function_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.scalar_functions().keys().map(|k| k.to_uppercase()).collect();
        v.extend(RENAMES.iter().map(|(k, _)| k.to_string()));
        v.sort();
        v.dedup();
        v
    }
}

fn annotate(e: Error, expr: &SqlExpr, schema: &DFSchema) -> Error {
    match e {
        Error::Plan(m) if m.starts_with("No field named") => {
            let name = m
                .trim_start_matches("No field named")
                .split(['.', '\n'])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches('.')
                .replace('"', "");
            let mut known: Vec<String> = schema
                .iter()
                .filter(|(_, f)| !f.name().starts_with("__"))
                .map(|(q, f)| match q {
                    Some(q) => format!("{}.{}", q.table(), f.name()),
                    None => f.name().clone(),
                })
                .collect();
            known.dedup();
            Error::Plan(format!(
                "column {name} cannot be resolved (in `{}`); the columns are {}",
                display_sql(expr),
                known.join(", ")
            ))
        }
        Error::Plan(m) => Error::Plan(format!("{m} (in `{}`)", display_sql(expr))),
        other => other,
    }
}

/// An expression as the user wrote it (normalized quotes removed).
pub fn display_sql(expr: &SqlExpr) -> String {
    expr.to_string().replace('"', "")
}

/// `STRUCT(a := x, …)` → `named_struct('A', x, …)` and `MAP(k := v, …)` →
/// `map(make_array(k, …), make_array(v, …))`.
fn constructor(f: &sqlparser::ast::Function) -> Option<SqlExpr> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let name = f.name.to_string().replace('"', "").to_uppercase();
    if name != "STRUCT" && name != "MAP" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    let mut pairs = Vec::new();
    for a in &list.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::Assignment,
            right,
        })) = a
        else {
            return None;
        };
        pairs.push((left.as_ref().clone(), right.as_ref().clone()));
    }
    let call = |fname: &str, args: Vec<SqlExpr>| {
        SqlExpr::Function(sqlparser::ast::Function {
            name: sqlparser::ast::ObjectName::from(vec![Ident::new(fname)]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
                clauses: Vec::new(),
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: Vec::new(),
        })
    };
    if name == "STRUCT" {
        let mut args = Vec::new();
        for (k, v) in pairs {
            let SqlExpr::Identifier(field) = k else { return None };
            args.push(SqlExpr::value(sqlparser::ast::Value::SingleQuotedString(field.value)));
            args.push(v);
        }
        Some(call("named_struct", args))
    } else {
        let (keys, values): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        Some(call("map", vec![call("make_array", keys), call("make_array", values)]))
    }
}

/// Rewrites ksqlDB syntax DataFusion does not know.
pub(crate) fn rewrite_ksql(e: &mut SqlExpr) {
    let _ = visit_expressions_mut(e, |e| {
        match e {
            SqlExpr::BinaryOp { left, op: BinaryOperator::Arrow, right } => {
                if let SqlExpr::Identifier(field) = right.as_ref() {
                    let field: Ident = field.clone();
                    let root = std::mem::replace(left.as_mut(), SqlExpr::value(sqlparser::ast::Value::Null));
                    *e = match root {
                        SqlExpr::Identifier(i) => SqlExpr::CompoundIdentifier(vec![i, field]),
                        SqlExpr::CompoundIdentifier(mut parts) => {
                            parts.push(field);
                            SqlExpr::CompoundIdentifier(parts)
                        }
                        other => SqlExpr::CompoundFieldAccess {
                            root: Box::new(other),
                            access_chain: vec![AccessExpr::Dot(SqlExpr::Identifier(field))],
                        },
                    };
                }
            }
            SqlExpr::Cast { data_type, .. } => {
                // ksqlDB's BYTES is DataFusion's BYTEA.
                if let sqlparser::ast::DataType::Bytes(_) = data_type {
                    *data_type = sqlparser::ast::DataType::Bytea;
                }
            }
            SqlExpr::Function(f) => {
                if let Some(rewritten) = constructor(f) {
                    *e = rewritten;
                } else if let [ObjectNamePart::Identifier(name)] = f.name.0.as_mut_slice()
                    && let Some((_, to)) =
                        RENAMES.iter().find(|(from, _)| name.value.eq_ignore_ascii_case(from))
                {
                    *name = Ident::new(*to);
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}
