//! Aggregate functions of streaming SQL.
//!
//! DataFusion plans the expressions (so `COUNT(*)`, `SUM(x * 2)`, `TOPK(x, 3)` resolve, type
//! check and show up as `Expr::AggregateFunction`), but the aggregation itself runs in Brook's
//! operators: state must live in task state stores, be updated batch by batch, merged for
//! session windows and emitted on every change. So every aggregate here is an [`AggFunc`]
//! with a columnar [`accumulators::GroupsAccumulator`] whose per-group state can be saved to
//! and loaded from bytes.
//!
//! ksqlDB functions DataFusion does not have (`COUNT_DISTINCT`, `LATEST_BY_OFFSET`,
//! `EARLIEST_BY_OFFSET`, `TOPK`, `COLLECT_LIST`, `COLLECT_SET`) are registered with DataFusion
//! as signature-only UDAFs so that planning knows their names and result types.

pub mod accumulators;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility};

use crate::error::{Error, Result};

/// The aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    /// `COUNT(x)` / `COUNT(*)`: non-null values.
    Count,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `COUNT_DISTINCT(x)` / `COUNT(DISTINCT x)` (exact).
    CountDistinct,
    /// `LATEST_BY_OFFSET(x [, n])`: the most recent non-null value(s).
    LatestByOffset,
    /// `EARLIEST_BY_OFFSET(x [, n])`: the first non-null value(s).
    EarliestByOffset,
    /// `TOPK(x, k)`: the k largest values, largest first.
    TopK,
    /// `COLLECT_LIST(x)`: values in arrival order (at most 1000).
    CollectList,
    /// `COLLECT_SET(x)`: distinct values in arrival order (at most 1000).
    CollectSet,
}

/// Most elements `COLLECT_LIST`/`COLLECT_SET` keep (ksqlDB's default limit).
pub const COLLECT_LIMIT: usize = 1000;

/// A planned aggregate call.
#[derive(Debug, Clone, PartialEq)]
pub struct AggFunc {
    /// Which function.
    pub kind: AggKind,
    /// `n` of `TOPK(x, n)` and `LATEST_BY_OFFSET(x, n)`; `None` means a single value.
    pub n: Option<usize>,
    /// Type of the (canonical) argument column.
    pub input: DataType,
    /// Result type.
    pub output: DataType,
    /// Display name, e.g. `COUNT(*)`.
    pub display: String,
    /// Values are also taken back out ([`accumulators::GroupsAccumulator::retract`]): the
    /// aggregate runs over a TABLE. Only [`AggKind::undoable`] functions support it.
    pub undo: bool,
}

impl AggKind {
    /// Every aggregate function.
    pub const ALL: [AggKind; 11] = [
        AggKind::Count,
        AggKind::Sum,
        AggKind::Avg,
        AggKind::Min,
        AggKind::Max,
        AggKind::CountDistinct,
        AggKind::LatestByOffset,
        AggKind::EarliestByOffset,
        AggKind::TopK,
        AggKind::CollectList,
        AggKind::CollectSet,
    ];

    /// Whether a value can be taken back out of the aggregate
    /// ([`accumulators::GroupsAccumulator::retract`]), which aggregating a TABLE needs.
    pub fn undoable(&self) -> bool {
        matches!(self, AggKind::Count | AggKind::Sum | AggKind::Avg | AggKind::CountDistinct)
    }

    /// The SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            AggKind::Count => "COUNT",
            AggKind::Sum => "SUM",
            AggKind::Avg => "AVG",
            AggKind::Min => "MIN",
            AggKind::Max => "MAX",
            AggKind::CountDistinct => "COUNT_DISTINCT",
            AggKind::LatestByOffset => "LATEST_BY_OFFSET",
            AggKind::EarliestByOffset => "EARLIEST_BY_OFFSET",
            AggKind::TopK => "TOPK",
            AggKind::CollectList => "COLLECT_LIST",
            AggKind::CollectSet => "COLLECT_SET",
        }
    }

    /// Maps a DataFusion aggregate function name.
    pub fn from_name(name: &str, distinct: bool) -> Option<AggKind> {
        Some(match (name.to_lowercase().as_str(), distinct) {
            ("count", false) => AggKind::Count,
            ("count", true) | ("count_distinct", _) => AggKind::CountDistinct,
            ("sum", false) => AggKind::Sum,
            ("avg" | "mean", false) => AggKind::Avg,
            ("min", _) => AggKind::Min,
            ("max", _) => AggKind::Max,
            ("latest_by_offset", false) => AggKind::LatestByOffset,
            ("earliest_by_offset", false) => AggKind::EarliestByOffset,
            ("topk", false) => AggKind::TopK,
            ("collect_list" | "array_agg", false) => AggKind::CollectList,
            ("collect_set", false) | ("array_agg", true) => AggKind::CollectSet,
            _ => return None,
        })
    }
}

fn literal_count(args: &[Expr], i: usize, name: &str) -> Result<Option<usize>> {
    let Some(e) = args.get(i) else { return Ok(None) };
    let v = match e {
        Expr::Literal(v, _) => v.clone(),
        Expr::Cast(c) => match c.expr.as_ref() {
            Expr::Literal(v, _) => v.clone(),
            _ => ScalarValue::Null,
        },
        _ => ScalarValue::Null,
    };
    let n = match v {
        ScalarValue::Int64(Some(n)) => n,
        ScalarValue::Int32(Some(n)) => i64::from(n),
        ScalarValue::UInt64(Some(n)) => n as i64,
        _ => {
            return Err(Error::plan(format!(
                "the second argument of {name} must be a positive integer literal"
            )));
        }
    };
    if !(1..=1000).contains(&n) {
        return Err(Error::plan(format!(
            "the second argument of {name} must be between 1 and 1000, not {n}"
        )));
    }
    Ok(Some(n as usize))
}

/// The canonical argument type an accumulator works on.
pub fn canonical_input(kind: AggKind, t: &DataType) -> Result<DataType> {
    let numeric = |t: &DataType| -> Result<DataType> {
        Ok(match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => DataType::Int64,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => DataType::Int64,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
                DataType::Decimal128(38, *s)
            }
            DataType::Null => DataType::Int64,
            other => {
                return Err(Error::plan(format!(
                    "{} needs a numeric argument (INT, BIGINT, DOUBLE or DECIMAL), not {}",
                    kind.name(),
                    crate::types::SqlType::from_arrow(other)
                        .map(|t| t.to_string())
                        .unwrap_or(other.to_string())
                )));
            }
        })
    };
    Ok(match kind {
        AggKind::Sum => numeric(t)?,
        AggKind::Avg => {
            numeric(t)?;
            DataType::Float64
        }
        AggKind::Count => t.clone(),
        _ => match t {
            DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
            DataType::Null => DataType::Utf8,
            other => crate::types::SqlType::from_arrow(other)?.to_arrow(),
        },
    })
}

impl AggFunc {
    /// Builds an aggregate from a DataFusion aggregate call: function name, `DISTINCT`, the
    /// argument expressions and the type of the first argument. Returns the function and the
    /// index of arguments that are data (the rest are literals).
    pub fn plan(
        name: &str,
        distinct: bool,
        args: &[Expr],
        first_type: &DataType,
        display: String,
    ) -> Result<AggFunc> {
        let kind = AggKind::from_name(name, distinct).ok_or_else(|| {
            Error::plan(format!(
                "{} is not an aggregate function Brook can run continuously",
                name.to_uppercase()
            ))
        })?;
        let upper = name.to_uppercase();
        let n = match kind {
            AggKind::TopK => Some(literal_count(args, 1, &upper)?.ok_or_else(|| {
                Error::plan("TOPK needs the number of values as its second argument, e.g. TOPK(amount, 3)")
            })?),
            AggKind::LatestByOffset | AggKind::EarliestByOffset => literal_count(args, 1, &upper)?,
            _ => None,
        };
        let input = canonical_input(kind, first_type)?;
        if !matches!(kind, AggKind::Count | AggKind::Sum | AggKind::Avg)
            && !datafusion::arrow::row::RowConverter::supports_fields(&[
                datafusion::arrow::row::SortField::new(input.clone()),
            ])
        {
            return Err(Error::plan(format!("{upper} cannot aggregate values of type {input}")));
        }
        let list = |t: &DataType| DataType::List(Arc::new(Field::new("item", t.clone(), true)));
        let output = match kind {
            AggKind::Count | AggKind::CountDistinct => DataType::Int64,
            AggKind::Avg => DataType::Float64,
            AggKind::Sum | AggKind::Min | AggKind::Max => input.clone(),
            AggKind::LatestByOffset | AggKind::EarliestByOffset if n.is_some() => list(&input),
            AggKind::LatestByOffset | AggKind::EarliestByOffset => input.clone(),
            AggKind::TopK | AggKind::CollectList | AggKind::CollectSet => list(&input),
        };
        Ok(AggFunc { kind, n, input, output, display, undo: false })
    }

    /// A fresh accumulator for this function.
    pub fn accumulator(&self) -> Result<Box<dyn accumulators::GroupsAccumulator>> {
        accumulators::create(self)
    }
}

/// A UDAF that only tells DataFusion's planner a function's name and result type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SignatureOnly {
    name: &'static str,
    signature: Signature,
}

impl AggregateUDFImpl for SignatureOnly {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let first = arg_types.first().cloned().unwrap_or(DataType::Null);
        let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        Ok(match self.name {
            "count_distinct" => DataType::Int64,
            "latest_by_offset" | "earliest_by_offset" if arg_types.len() > 1 => list(first),
            "latest_by_offset" | "earliest_by_offset" => first,
            _ => list(first),
        })
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        datafusion::common::not_impl_err!("{} runs only inside Brook's streaming aggregation", self.name)
    }
}

/// The ksqlDB aggregates DataFusion lacks, as signature-only UDAFs for the planner.
pub fn planner_udafs() -> Vec<Arc<AggregateUDF>> {
    ["count_distinct", "latest_by_offset", "earliest_by_offset", "topk", "collect_list", "collect_set"]
        .into_iter()
        .map(|name| {
            Arc::new(AggregateUDF::from(SignatureOnly {
                name,
                signature: Signature::variadic_any(Volatility::Immutable),
            }))
        })
        .collect()
}

/// Names of the aggregate functions, for `SHOW FUNCTIONS`.
pub const AGGREGATE_NAMES: &[&str] = &[
    "AVG",
    "COLLECT_LIST",
    "COLLECT_SET",
    "COUNT",
    "COUNT_DISTINCT",
    "EARLIEST_BY_OFFSET",
    "LATEST_BY_OFFSET",
    "MAX",
    "MIN",
    "SUM",
    "TOPK",
];
