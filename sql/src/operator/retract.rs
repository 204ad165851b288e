//! Aggregating a TABLE: the table's changes as retractions and additions of rows.
//!
//! A change of a table replaces (or, as a tombstone, deletes) the row with its key. The
//! aggregate downstream must take the replaced version out of its group before the new version
//! goes in — possibly into another group. Kafka Streams' `KTable.groupBy` forwards a
//! `Change(new, old)` pair for this, and so does [`RetractOp`]:
//!
//! ```text
//!  change (key k, new row | tombstone)            store[k] = previous row
//!     same group:   one row   [group, new args, old args, ADD, RETRACT]
//!     other group:  two rows  [old group, -, old args, RETRACT]  then  [new group, new args, -, ADD]
//!     insert:       one row   [group, new args, -, ADD]
//!     tombstone:    one row   [old group, -, old args, RETRACT]
//! ```
//!
//! A row that stays in its group is one record, so the group changes at once (it never shows
//! the row missing in between); a row that moves is two, and after re-keying each travels to
//! the partition of its own group — the old group's partition subtracts, the new group's adds.
//! Everything for one group is written by this task in order, so a group always sees a row's
//! addition before its retraction.
//!
//! The store holds, per table key, the row's group keys and aggregate arguments (arrow-row
//! encoded) — not the whole table row — so it is as small as the aggregate needs. A change that
//! leaves those columns as they were (an update of some other column) sends nothing.

use std::sync::Arc;

use brook_streams::task::{StoreRef, TaskContext};
use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, new_null_array,
};
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};

use super::{Down, Operator};
use crate::error::Result;

/// Remembers each table row's aggregated columns and turns changes into retractions and
/// additions. Input: `values` columns (`groups` group keys, then aggregate arguments), `keys`
/// table key columns, the tombstone flag, `ROWTIME`; output: see [`crate::planner::plan::RetractNode`].
pub(crate) struct RetractOp {
    groups: usize,
    values: usize,
    keys: usize,
    value_conv: RowConverter,
    group_conv: RowConverter,
    key_conv: RowConverter,
    /// One-row null arrays of the value columns (the missing half of a pair).
    nulls: Vec<ArrayRef>,
    schema: SchemaRef,
    store: StoreRef,
    down: Down,
}

/// Where an output row's halves come from: a row of the input batch (new) and a row of the
/// decoded previous versions (old).
struct Pair {
    group_from_new: bool,
    new: Option<usize>,
    old: Option<usize>,
    rowtime: i64,
}

impl RetractOp {
    pub(crate) fn new(
        groups: usize,
        value_types: Vec<DataType>,
        key_types: Vec<DataType>,
        schema: SchemaRef,
        store: StoreRef,
        down: Down,
    ) -> Result<Self> {
        let group_types = value_types.get(..groups).unwrap_or_default().to_vec();
        Ok(RetractOp {
            groups,
            values: value_types.len(),
            keys: key_types.len(),
            nulls: value_types.iter().map(|t| new_null_array(t, 1)).collect(),
            value_conv: RowConverter::new(value_types.into_iter().map(SortField::new).collect())?,
            group_conv: RowConverter::new(group_types.into_iter().map(SortField::new).collect())?,
            key_conv: RowConverter::new(key_types.into_iter().map(SortField::new).collect())?,
            schema,
            store,
            down,
        })
    }
}

impl Operator for RetractOp {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let (g, v, k) = (self.groups, self.values, self.keys);
        let value_cols: Vec<ArrayRef> = batch.columns()[..v].to_vec();
        let key_cols: Vec<ArrayRef> = batch.columns()[v..v + k].to_vec();
        let dead = batch.column(v + k).as_boolean().clone();
        let times = cast(batch.column(v + k + 1), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let value_rows = self.value_conv.convert_columns(&value_cols)?;
        let key_rows = self.key_conv.convert_columns(&key_cols)?;
        let any_null_key = key_cols.iter().any(|c| c.null_count() > 0);

        // (input row or none, previous version or none, time) per change that matters.
        let mut changes: Vec<(Option<usize>, Option<usize>, i64)> = Vec::new();
        let mut olds: Vec<Bytes> = Vec::new();
        {
            let mut store = self.store.borrow_mut();
            for r in 0..batch.num_rows() {
                // A table row needs its key (ksqlDB ignores records with a null key).
                if any_null_key && key_cols.iter().any(|c| c.is_null(r)) {
                    continue;
                }
                let key = key_rows.row(r);
                let old = store.get(key.as_ref())?;
                let is_tombstone = dead.is_valid(r) && dead.value(r);
                let new = (!is_tombstone).then(|| value_rows.row(r));
                if let (Some(o), Some(n)) = (&old, &new)
                    && o.as_ref() == n.as_ref()
                {
                    continue;
                }
                match &new {
                    Some(n) => store.put(key.as_ref(), n.as_ref())?,
                    None if old.is_some() => store.delete(key.as_ref())?,
                    None => continue,
                }
                let old_idx = old.map(|o| {
                    olds.push(o);
                    olds.len() - 1
                });
                changes.push((new.is_some().then_some(r), old_idx, times.value(r)));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let old_cols = if olds.is_empty() {
            self.nulls.clone()
        } else {
            let parser = self.value_conv.parser();
            self.value_conv.convert_rows(olds.iter().map(|b| parser.parse(b)))?
        };
        let new_groups = self.group_conv.convert_columns(&value_cols[..g])?;
        let old_groups = self.group_conv.convert_columns(&old_cols[..g])?;
        let mut pairs: Vec<Pair> = Vec::with_capacity(changes.len());
        for (new, old, rowtime) in changes {
            match (new, old) {
                (Some(n), Some(o)) if new_groups.row(n) == old_groups.row(o) => {
                    pairs.push(Pair { group_from_new: true, new: Some(n), old: Some(o), rowtime });
                }
                (Some(n), Some(o)) => {
                    pairs.push(Pair { group_from_new: false, new: None, old: Some(o), rowtime });
                    pairs.push(Pair { group_from_new: true, new: Some(n), old: None, rowtime });
                }
                (new, old) => pairs.push(Pair { group_from_new: new.is_some(), new, old, rowtime }),
            }
        }
        // Sources for `interleave`: 0 = the input batch, 1 = previous versions, 2 = nulls.
        let pick = |col: usize, from: &dyn Fn(&Pair) -> (usize, usize)| -> Result<ArrayRef> {
            let sources: [&dyn Array; 3] =
                [value_cols[col].as_ref(), old_cols[col].as_ref(), self.nulls[col].as_ref()];
            let idx: Vec<(usize, usize)> = pairs.iter().map(from).collect();
            Ok(interleave(&sources, &idx)?)
        };
        let mut cols = Vec::with_capacity(self.schema.fields().len());
        for c in 0..g {
            cols.push(pick(c, &|p| match (p.group_from_new, p.new, p.old) {
                (true, Some(n), _) => (0, n),
                (_, _, Some(o)) => (1, o),
                _ => (2, 0),
            })?);
        }
        for c in g..v {
            cols.push(pick(c, &|p| p.new.map_or((2, 0), |n| (0, n)))?);
        }
        for c in g..v {
            cols.push(pick(c, &|p| p.old.map_or((2, 0), |o| (1, o)))?);
        }
        cols.push(Arc::new(BooleanArray::from_iter(pairs.iter().map(|p| Some(p.new.is_some())))));
        cols.push(Arc::new(BooleanArray::from_iter(pairs.iter().map(|p| Some(p.old.is_some())))));
        cols.push(Arc::new(Int64Array::from_iter_values(pairs.iter().map(|p| p.rowtime))));
        self.down.send(RecordBatch::try_new(self.schema.clone(), cols)?, ctx)
    }

    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        self.store.borrow_mut().flush()?;
        Ok(())
    }
}
