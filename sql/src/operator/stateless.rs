//! Filter and projection: DataFusion physical expressions evaluated on whole batches.

use std::sync::Arc;

use brook_streams::task::TaskContext;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::kernels::boolean::{not, or_kleene};
use datafusion::arrow::compute::{cast, filter_record_batch, prep_null_mask_filter};
use datafusion::arrow::datatypes::SchemaRef;

use super::log::{ProcessingLog, RecordRef};
use super::{Down, Operator};
use crate::error::Result;
use crate::planner::expr::PhysExpr;

/// Evaluates an expression, turning an evaluation error into a per-batch failure that callers
/// can retry row by row.
pub(crate) fn eval(expr: &PhysExpr, batch: &RecordBatch) -> std::result::Result<ArrayRef, String> {
    let v = expr.evaluate(batch).map_err(|e| e.to_string())?;
    v.into_array(batch.num_rows()).map_err(|e| e.to_string())
}

/// Evaluates `f` on the batch; if it fails (a bad cast in one row, say), evaluates row by row,
/// logs the failing rows and drops them. Returns the surviving batch and the results.
pub(crate) fn eval_rows<T>(
    batch: RecordBatch,
    ctx: &mut TaskContext,
    log: &ProcessingLog,
    op: &str,
    f: impl Fn(&RecordBatch) -> std::result::Result<T, String>,
    concat: impl Fn(Vec<T>) -> Result<T>,
) -> Result<Option<(RecordBatch, T)>> {
    match f(&batch) {
        Ok(v) => Ok(Some((batch, v))),
        Err(_) => {
            let mut keep = Vec::new();
            let mut parts = Vec::new();
            for i in 0..batch.num_rows() {
                let row = batch.slice(i, 1);
                match f(&row) {
                    Ok(v) => {
                        keep.push(i as u32);
                        parts.push(v);
                    }
                    Err(e) => {
                        let at = row_ref(&row);
                        log.skip(ctx, op, &e, &at);
                    }
                }
            }
            if keep.is_empty() {
                return Ok(None);
            }
            let idx = datafusion::arrow::array::UInt32Array::from(keep);
            let cols = batch
                .columns()
                .iter()
                .map(|c| datafusion::arrow::compute::take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let b = RecordBatch::try_new(batch.schema(), cols)?;
            Ok(Some((b, concat(parts)?)))
        }
    }
}

/// Source partition and offset of a one-row batch, if it still carries them.
fn row_ref(row: &RecordBatch) -> RecordRef {
    let get = |name: &str| row.schema().index_of(name).ok().map(|i| row.column(i).clone());
    let partition = get("ROWPARTITION")
        .and_then(|a| cast(&a, &datafusion::arrow::datatypes::DataType::Int32).ok())
        .map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int32Type>().value(0))
        .unwrap_or(-1);
    let offset = get("ROWOFFSET")
        .and_then(|a| cast(&a, &datafusion::arrow::datatypes::DataType::Int64).ok())
        .map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0))
        .unwrap_or(-1);
    RecordRef { topic: None, partition, offset }
}

fn concat_arrays(parts: Vec<ArrayRef>) -> Result<ArrayRef> {
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(datafusion::arrow::compute::concat(&refs)?)
}

fn concat_columns(parts: Vec<Vec<ArrayRef>>) -> Result<Vec<ArrayRef>> {
    let width = parts.first().map_or(0, Vec::len);
    (0..width).map(|c| concat_arrays(parts.iter().map(|p| p[c].clone()).collect())).collect()
}

/// `WHERE` / `HAVING`. On streams non-matching rows are dropped; on tables they become
/// tombstones (the row no longer belongs to the result).
pub(crate) struct FilterOp {
    pub predicate: PhysExpr,
    pub tombstone: Option<usize>,
    pub log: ProcessingLog,
    pub down: Down,
}

impl Operator for FilterOp {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let p = self.predicate.clone();
        let Some((batch, mask)) = eval_rows(batch, ctx, &self.log, "filter", |b| eval(&p, b), concat_arrays)?
        else {
            return Ok(());
        };
        let mask = mask.as_boolean();
        let mask = if mask.null_count() > 0 { prep_null_mask_filter(mask) } else { mask.clone() };
        match self.tombstone {
            None => self.down.send(filter_record_batch(&batch, &mask)?, ctx),
            Some(t) => {
                // Rows that fail become tombstones.
                let current = batch.column(t).as_boolean().clone();
                let dead: BooleanArray = or_kleene(&current, &not(&mask)?)?;
                let mut cols = batch.columns().to_vec();
                cols[t] = Arc::new(dead);
                self.down.send(RecordBatch::try_new(batch.schema(), cols)?, ctx)
            }
        }
    }
}

/// Computes output columns; results are cast to the output schema's (canonical) types.
pub(crate) struct ProjectOp {
    pub exprs: Vec<PhysExpr>,
    pub schema: SchemaRef,
    pub log: ProcessingLog,
    pub down: Down,
}

impl Operator for ProjectOp {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let (exprs, schema) = (self.exprs.clone(), self.schema.clone());
        let compute = |b: &RecordBatch| -> std::result::Result<Vec<ArrayRef>, String> {
            let mut out = Vec::with_capacity(exprs.len());
            for (e, f) in exprs.iter().zip(schema.fields()) {
                let a = eval(e, b)?;
                let a = if a.data_type() == f.data_type() {
                    a
                } else {
                    cast(&a, f.data_type())
                        .map_err(|e| format!("cannot cast {} to {}: {e}", a.data_type(), f.data_type()))?
                };
                out.push(a);
            }
            Ok(out)
        };
        let Some((_, cols)) = eval_rows(batch, ctx, &self.log, "project", compute, concat_columns)? else {
            return Ok(());
        };
        self.down.send(RecordBatch::try_new(self.schema.clone(), cols)?, ctx)
    }
}
