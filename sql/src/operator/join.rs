//! Join operators.
//!
//! Both inputs of a join arrive at the same task (the planner made them co-partitioned), on
//! port 0 (left) and port 1 (right). Stored rows are arrow-row encoded user columns, keyed by
//! the arrow-row encoding of the join key (both sides encode equal keys to equal bytes).
//!
//! * stream-table: table rows are kept in a store; stream rows look up the current row —
//!   vectorized over the batch.
//! * table-table: both sides kept; a change on either side is joined with the other side's
//!   current row; a result that disappears is retracted with a tombstone.
//! * stream-stream: both sides buffered (`JoinBuffer`: written in generations, looked up by
//!   key and time) with only the columns read above the join, matched within `WITHIN`;
//!   unmatched rows of outer sides are kept by key and time (`KeyTimeStore`) and emitted with
//!   nulls once their window closed (the DSL's rule, Kafka Streams' since 3.1).
//! * foreign key (single partition): the left table's rows are indexed by foreign key, so a
//!   change of a right row reaches every left row pointing at it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use brook_streams::state::SharedStore;
use brook_streams::state::encoding::{prefix_end, put_prefixed, read_prefixed};
use brook_streams::state::join_buffer::{JoinBuffer, initial_sequence, join_horizon};
use brook_streams::state::session::KeyTimeStore;
use brook_streams::task::{StoreRef, TaskBuilder, TaskContext};
use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{cast, is_null, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};

use super::log::{LateLog, ProcessingLog};
use super::stateless::eval;
use super::{Down, OpRef, Operator};
use crate::error::{Error, Result};
use crate::parser::JoinType;
use crate::planner::expr::PhysExpr;
use crate::planner::plan::{JoinNode, JoinStrategy};
use crate::planner::schema::RelSchema;

/// What the operator needs to know about one input.
struct Input {
    keys: Vec<PhysExpr>,
    /// User columns of the input, in output order.
    cols: Vec<usize>,
    /// Positions in `cols` of the columns kept in stored rows (the rest are emitted as NULL).
    stored: Vec<usize>,
    types: Vec<DataType>,
    rowtime: usize,
    tombstone: Option<usize>,
    /// Encodes the stored columns of a row.
    rows: RowConverter,
    null_row: Vec<u8>,
}

impl Input {
    /// `buffered`: positions among the user columns to store (`None`: all).
    fn new(schema: &RelSchema, keys: &[PhysExpr], buffered: Option<&[usize]>) -> Result<Input> {
        let cols: Vec<usize> = schema.user_columns();
        let types: Vec<DataType> = cols.iter().map(|&i| schema.fields[i].data_type.clone()).collect();
        let stored: Vec<usize> = match buffered {
            Some(b) => b.iter().copied().filter(|&p| p < cols.len()).collect(),
            None => (0..cols.len()).collect(),
        };
        let rows = RowConverter::new(stored.iter().map(|&p| SortField::new(types[p].clone())).collect())?;
        let nulls: Vec<ArrayRef> = stored.iter().map(|&p| new_null_array(&types[p], 1)).collect();
        let null_row = rows.convert_columns(&nulls)?.row(0).as_ref().to_vec();
        Ok(Input {
            keys: keys.to_vec(),
            cols,
            stored,
            types,
            rowtime: schema.rowtime().ok_or_else(|| Error::Internal("join input without ROWTIME".into()))?,
            tombstone: schema.tombstone(),
            rows,
            null_row,
        })
    }

    fn user_rows(&self, batch: &RecordBatch) -> Result<Rows> {
        let cols: Vec<ArrayRef> = self.stored.iter().map(|&p| batch.column(self.cols[p]).clone()).collect();
        Ok(self.rows.convert_columns(&cols)?)
    }

    /// Arrays of all user columns for the given encoded rows (`None` → nulls).
    fn arrays(&self, rows: &[Option<&[u8]>]) -> Result<Vec<ArrayRef>> {
        let parser = self.rows.parser();
        let bytes: Vec<&[u8]> = rows.iter().map(|r| r.unwrap_or(&self.null_row)).collect();
        let decoded = self.rows.convert_rows(bytes.iter().map(|b| parser.parse(b)))?;
        if decoded.len() == self.cols.len() {
            return Ok(decoded);
        }
        let mut out: Vec<ArrayRef> = self.types.iter().map(|t| new_null_array(t, rows.len())).collect();
        for (&p, a) in self.stored.iter().zip(decoded) {
            out[p] = a;
        }
        Ok(out)
    }
}

/// Shared machinery: key encoding and output assembly.
struct Common {
    left: Input,
    right: Input,
    keys: RowConverter,
    key_types: Vec<DataType>,
    schema: SchemaRef,
    key_fill: Vec<(usize, usize)>,
    table_output: bool,
    log: ProcessingLog,
    down: Down,
}

/// One output row: encoded left and right user columns, time, and whether it is a delete.
struct Out {
    left: Option<Vec<u8>>,
    right: Option<Vec<u8>>,
    rowtime: i64,
    tombstone: bool,
}

impl Common {
    /// Encoded join keys of a batch side; `None` where any key column is null.
    fn keys(&self, input: &Input, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let mut cols = Vec::with_capacity(input.keys.len());
        for (k, t) in input.keys.iter().zip(&self.key_types) {
            let a = eval(k, batch).map_err(Error::Execution)?;
            cols.push(if a.data_type() == t { a } else { cast(&a, t)? });
        }
        let rows = self.keys.convert_columns(&cols)?;
        Ok((0..batch.num_rows())
            .map(
                |i| {
                    if cols.iter().any(|c| c.is_null(i)) { None } else { Some(rows.row(i).as_ref().to_vec()) }
                },
            )
            .collect())
    }

    fn emit(&self, out: Vec<Out>, ctx: &mut TaskContext) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let lrows: Vec<Option<&[u8]>> = out.iter().map(|o| o.left.as_deref()).collect();
        let rrows: Vec<Option<&[u8]>> = out.iter().map(|o| o.right.as_deref()).collect();
        let mut cols = self.left.arrays(&lrows)?;
        cols.extend(self.right.arrays(&rrows)?);
        self.fill_keys(&mut cols)?;
        cols.push(Arc::new(Int64Array::from_iter_values(out.iter().map(|o| o.rowtime))));
        if self.table_output {
            cols.push(Arc::new(BooleanArray::from_iter(out.iter().map(|o| Some(o.tombstone)))));
        }
        self.down.send(RecordBatch::try_new(self.schema.clone(), cols)?, ctx)
    }

    fn fill_keys(&self, cols: &mut [ArrayRef]) -> Result<()> {
        for &(l, r) in &self.key_fill {
            if cols[l].null_count() > 0 && cols[l].data_type() == cols[r].data_type() {
                cols[l] = zip(&is_null(&cols[l])?, &cols[r], &cols[l])?;
            }
        }
        Ok(())
    }
}

fn rowtimes(batch: &RecordBatch, idx: usize) -> Result<Int64Array> {
    Ok(cast(batch.column(idx), &DataType::Int64)?.as_primitive::<Int64Type>().clone())
}

fn tombstones(batch: &RecordBatch, idx: Option<usize>) -> Option<BooleanArray> {
    idx.map(|t| batch.column(t).as_boolean().clone())
}

/// Instantiates a join operator for one task.
pub(crate) fn instantiate(
    j: &JoinNode,
    b: &mut TaskBuilder<'_>,
    log: &ProcessingLog,
    down: Down,
) -> Result<OpRef> {
    let key_fields: Vec<SortField> = j.key_types.iter().map(|t| SortField::new(t.clone())).collect();
    let common = Common {
        left: Input::new(j.left.schema(), &j.left_keys, j.left_buffered.as_deref())?,
        right: Input::new(j.right.schema(), &j.right_keys, j.right_buffered.as_deref())?,
        keys: RowConverter::new(key_fields)?,
        key_types: j.key_types.clone(),
        schema: j.schema.arrow(),
        key_fill: j.key_fill.clone(),
        table_output: j.schema.tombstone().is_some(),
        log: log.clone(),
        down,
    };
    let store = |b: &mut TaskBuilder<'_>, s: &str| b.store(&format!("{}-{s}", j.store));
    Ok(match j.strategy {
        JoinStrategy::StreamTable => Rc::new(RefCell::new(StreamTableJoin {
            c: common,
            table: store(b, "table")?,
            join_type: j.join_type,
        })),
        JoinStrategy::TableTable => Rc::new(RefCell::new(TableTableJoin {
            c: common,
            left: store(b, "left")?,
            right: store(b, "right")?,
            join_type: j.join_type,
        })),
        JoinStrategy::ForeignKey => {
            let left_schema = j.left.schema();
            let pk = left_schema.key_indexes();
            let pk_conv = RowConverter::new(
                pk.iter().map(|&i| SortField::new(left_schema.fields[i].data_type.clone())).collect(),
            )?;
            Rc::new(RefCell::new(ForeignKeyJoin {
                c: common,
                left: store(b, "left")?,
                right: store(b, "right")?,
                index: store(b, "index")?,
                pk,
                pk_conv,
                join_type: j.join_type,
            }))
        }
        JoinStrategy::StreamStream { before, after, grace } => {
            let kt = |b: &mut TaskBuilder<'_>, s: &str| -> Result<KeyTimeStore> {
                Ok(KeyTimeStore::new(
                    Box::new(SharedStore::new(store(b, s)?)),
                    Box::new(SharedStore::new(store(b, &format!("{s}-time"))?)),
                ))
            };
            let segment = JoinBuffer::segment_interval(join_horizon(before, after, grace));
            let buffer = |b: &mut TaskBuilder<'_>, s: &str| -> Result<JoinBuffer> {
                let store = b.append_only_store(&format!("{}-{s}", j.store))?;
                Ok(JoinBuffer::open(Box::new(SharedStore::new(store)), segment)?)
            };
            Rc::new(RefCell::new(StreamStreamJoin {
                c: common,
                before,
                after,
                grace,
                join_type: j.join_type,
                left: buffer(b, "left-buffer")?,
                right: buffer(b, "right-buffer")?,
                left_open: kt(b, "left-open")?,
                right_open: kt(b, "right-open")?,
                observed: i64::MIN,
                seq: initial_sequence(),
                late: LateLog::new(log.clone(), "join"),
            }))
        }
    })
}

/// Stream rows enriched with the current table row.
struct StreamTableJoin {
    c: Common,
    table: StoreRef,
    join_type: JoinType,
}

impl Operator for StreamTableJoin {
    fn process(&mut self, port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        if port == 1 {
            let keys = self.c.keys(&self.c.right, &batch)?;
            let rows = self.c.right.user_rows(&batch)?;
            let dead = tombstones(&batch, self.c.right.tombstone);
            let mut store = self.table.borrow_mut();
            for (i, k) in keys.iter().enumerate() {
                let Some(k) = k else { continue };
                if dead.as_ref().is_some_and(|d| d.value(i)) {
                    store.delete(k)?;
                } else {
                    store.put(k, rows.row(i).as_ref())?;
                }
            }
            return Ok(());
        }
        let keys = self.c.keys(&self.c.left, &batch)?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        let mut found: Vec<Option<Bytes>> = Vec::with_capacity(batch.num_rows());
        {
            let mut store = self.table.borrow_mut();
            for (i, k) in keys.iter().enumerate() {
                let hit = match k {
                    Some(k) => store.get(k)?,
                    None => None,
                };
                if hit.is_some() || self.join_type == JoinType::Left {
                    keep.push(i as u32);
                    found.push(hit);
                }
            }
        }
        if keep.is_empty() {
            return Ok(());
        }
        let idx = UInt32Array::from(keep);
        let mut cols: Vec<ArrayRef> = self
            .c
            .left
            .cols
            .iter()
            .map(|&i| take(batch.column(i).as_ref(), &idx, None))
            .collect::<Result<_, _>>()?;
        let rrows: Vec<Option<&[u8]>> = found.iter().map(|f| f.as_deref()).collect();
        cols.extend(self.c.right.arrays(&rrows)?);
        self.c.fill_keys(&mut cols)?;
        cols.push(take(batch.column(self.c.left.rowtime).as_ref(), &idx, None)?);
        let out = RecordBatch::try_new(self.c.schema.clone(), cols)?;
        self.c.down.send(out, ctx)
    }

    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        self.table.borrow_mut().flush()?;
        Ok(())
    }
}

/// Whether a (left, right) pair forms a result row for the join type.
fn result_exists(t: JoinType, left: bool, right: bool) -> bool {
    match t {
        JoinType::Inner => left && right,
        JoinType::Left => left,
        JoinType::Right => right,
        JoinType::Full => left || right,
    }
}

/// Two tables joined on their primary keys.
struct TableTableJoin {
    c: Common,
    left: StoreRef,
    right: StoreRef,
    join_type: JoinType,
}

impl Operator for TableTableJoin {
    fn process(&mut self, port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let from_left = port == 0;
        let input = if from_left { &self.c.left } else { &self.c.right };
        let keys = self.c.keys(input, &batch)?;
        let rows = input.user_rows(&batch)?;
        let dead = tombstones(&batch, input.tombstone);
        let times = rowtimes(&batch, input.rowtime)?;
        let (this, other) = if from_left { (&self.left, &self.right) } else { (&self.right, &self.left) };
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let Some(k) = k else {
                let at = super::log::RecordRef::default();
                self.c.log.skip(ctx, "join", "table row with a null join key", &at);
                continue;
            };
            let deleted = dead.as_ref().is_some_and(|d| d.value(i));
            let old = this.borrow_mut().get(k)?;
            if deleted {
                this.borrow_mut().delete(k)?;
            } else {
                this.borrow_mut().put(k, rows.row(i).as_ref())?;
            }
            let other_row = other.borrow_mut().get(k)?;
            let new_this: Option<Vec<u8>> = (!deleted).then(|| rows.row(i).as_ref().to_vec());
            let (l_new, r_new, l_old, r_old) = if from_left {
                (new_this.is_some(), other_row.is_some(), old.is_some(), other_row.is_some())
            } else {
                (other_row.is_some(), new_this.is_some(), other_row.is_some(), old.is_some())
            };
            let t = times.value(i);
            if result_exists(self.join_type, l_new, r_new) {
                let (left, right) = if from_left {
                    (new_this, other_row.map(|b| b.to_vec()))
                } else {
                    (other_row.map(|b| b.to_vec()), new_this)
                };
                out.push(Out { left, right, rowtime: t, tombstone: false });
            } else if result_exists(self.join_type, l_old, r_old) {
                let (left, right) = if from_left {
                    (old.map(|b| b.to_vec()), other_row.map(|b| b.to_vec()))
                } else {
                    (other_row.map(|b| b.to_vec()), old.map(|b| b.to_vec()))
                };
                out.push(Out { left, right, rowtime: t, tombstone: true });
            }
        }
        self.c.emit(out, ctx)
    }

    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        self.left.borrow_mut().flush()?;
        self.right.borrow_mut().flush()?;
        Ok(())
    }
}

/// Left table rows joined with the right row their foreign key points at.
struct ForeignKeyJoin {
    c: Common,
    /// Left primary key → left row ‖ (len-prefixed) foreign key.
    left: StoreRef,
    /// Right primary key (the foreign key) → right row.
    right: StoreRef,
    /// len ‖ foreign key ‖ left primary key → ().
    index: StoreRef,
    pk: Vec<usize>,
    pk_conv: RowConverter,
    join_type: JoinType,
}

fn split_left(v: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (row, rest) = read_prefixed(v)?;
    match rest.first() {
        Some(1) => read_prefixed(&rest[1..]).map(|(fk, _)| (row, Some(fk))),
        _ => Some((row, None)),
    }
}

impl Operator for ForeignKeyJoin {
    fn process(&mut self, port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let times = rowtimes(&batch, if port == 0 { self.c.left.rowtime } else { self.c.right.rowtime })?;
        let mut out = Vec::new();
        if port == 0 {
            let fks = self.c.keys(&self.c.left, &batch)?;
            let rows = self.c.left.user_rows(&batch)?;
            let pk_cols: Vec<ArrayRef> = self.pk.iter().map(|&i| batch.column(i).clone()).collect();
            let pks = self.pk_conv.convert_columns(&pk_cols)?;
            let dead = tombstones(&batch, self.c.left.tombstone);
            for (i, fk) in fks.iter().enumerate() {
                let pk = pks.row(i).as_ref().to_vec();
                let deleted = dead.as_ref().is_some_and(|d| d.value(i));
                let old = self.left.borrow_mut().get(&pk)?;
                let old_parts =
                    old.as_deref().and_then(split_left).map(|(r, fk)| (r.to_vec(), fk.map(<[u8]>::to_vec)));
                let old_right = match old_parts.as_ref().and_then(|(_, fk)| fk.clone()) {
                    Some(fk) => {
                        let mut ik = Vec::new();
                        put_prefixed(&mut ik, &fk);
                        ik.extend_from_slice(&pk);
                        self.index.borrow_mut().delete(&ik)?;
                        self.right.borrow_mut().get(&fk)?
                    }
                    None => None,
                };
                let new_fk = if deleted { None } else { fk.clone() };
                if deleted {
                    self.left.borrow_mut().delete(&pk)?;
                } else {
                    let mut v = Vec::new();
                    put_prefixed(&mut v, rows.row(i).as_ref());
                    if let Some(fk) = &new_fk {
                        v.push(1);
                        put_prefixed(&mut v, fk);
                        let mut ik = Vec::new();
                        put_prefixed(&mut ik, fk);
                        ik.extend_from_slice(&pk);
                        self.index.borrow_mut().put(&ik, &[])?;
                    } else {
                        v.push(0);
                    }
                    self.left.borrow_mut().put(&pk, &v)?;
                }
                let new_right = match &new_fk {
                    Some(fk) => self.right.borrow_mut().get(fk)?,
                    None => None,
                };
                let t = times.value(i);
                if !deleted && result_exists(self.join_type, true, new_right.is_some()) {
                    out.push(Out {
                        left: Some(rows.row(i).as_ref().to_vec()),
                        right: new_right.map(|b| b.to_vec()),
                        rowtime: t,
                        tombstone: false,
                    });
                } else if let Some((old_row, _)) = old_parts
                    && result_exists(self.join_type, true, old_right.is_some())
                {
                    out.push(Out {
                        left: Some(old_row),
                        right: old_right.map(|b| b.to_vec()),
                        rowtime: t,
                        tombstone: true,
                    });
                }
            }
        } else {
            let keys = self.c.keys(&self.c.right, &batch)?;
            let rows = self.c.right.user_rows(&batch)?;
            let dead = tombstones(&batch, self.c.right.tombstone);
            for (i, k) in keys.iter().enumerate() {
                let Some(k) = k else { continue };
                let deleted = dead.as_ref().is_some_and(|d| d.value(i));
                let had = self.right.borrow_mut().get(k)?.is_some();
                if deleted {
                    self.right.borrow_mut().delete(k)?;
                } else {
                    self.right.borrow_mut().put(k, rows.row(i).as_ref())?;
                }
                let mut prefix = Vec::new();
                put_prefixed(&mut prefix, k);
                let end = prefix_end(&prefix);
                let mut pks = Vec::new();
                self.index.borrow_mut().scan(&prefix, end.as_deref(), &mut |ik, _| {
                    pks.push(ik[prefix.len()..].to_vec());
                    true
                })?;
                let t = times.value(i);
                for pk in pks {
                    let Some(lv) = self.left.borrow_mut().get(&pk)? else { continue };
                    let Some((lrow, _)) = split_left(&lv) else { continue };
                    if !deleted {
                        out.push(Out {
                            left: Some(lrow.to_vec()),
                            right: Some(rows.row(i).as_ref().to_vec()),
                            rowtime: t,
                            tombstone: false,
                        });
                    } else if self.join_type == JoinType::Left {
                        out.push(Out {
                            left: Some(lrow.to_vec()),
                            right: None,
                            rowtime: t,
                            tombstone: false,
                        });
                    } else if had {
                        out.push(Out { left: Some(lrow.to_vec()), right: None, rowtime: t, tombstone: true });
                    }
                }
            }
        }
        self.c.emit(out, ctx)
    }

    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        self.left.borrow_mut().flush()?;
        self.right.borrow_mut().flush()?;
        self.index.borrow_mut().flush()?;
        Ok(())
    }
}

/// Two streams joined within a time window.
struct StreamStreamJoin {
    c: Common,
    before: i64,
    after: i64,
    grace: i64,
    join_type: JoinType,
    left: JoinBuffer,
    right: JoinBuffer,
    left_open: KeyTimeStore,
    right_open: KeyTimeStore,
    observed: i64,
    seq: i64,
    late: LateLog,
}

impl StreamStreamJoin {
    fn outer_left(&self) -> bool {
        matches!(self.join_type, JoinType::Left | JoinType::Full)
    }

    fn outer_right(&self) -> bool {
        matches!(self.join_type, JoinType::Right | JoinType::Full)
    }
}

impl Operator for StreamStreamJoin {
    fn process(&mut self, port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let from_left = port == 0;
        let input = if from_left { &self.c.left } else { &self.c.right };
        let keys = self.c.keys(input, &batch)?;
        let rows = input.user_rows(&batch)?;
        let times = rowtimes(&batch, input.rowtime)?;
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let t = times.value(i);
            self.observed = self.observed.max(ctx.time_after(t));
            let row = rows.row(i).as_ref().to_vec();
            let Some(k) = k else {
                // A null key never matches; outer sides still emit the row.
                if (from_left && self.outer_left()) || (!from_left && self.outer_right()) {
                    let (left, right) = if from_left { (Some(row), None) } else { (None, Some(row)) };
                    out.push(Out { left, right, rowtime: t, tombstone: false });
                }
                continue;
            };
            let (reach_back, reach_ahead) =
                if from_left { (self.before, self.after) } else { (self.after, self.before) };
            if t.saturating_add(reach_ahead).saturating_add(self.grace) < self.observed {
                self.late.dropped(ctx, t, t.saturating_add(reach_ahead), self.observed);
                continue;
            }
            self.seq += 1;
            let seq = self.seq;
            let (mine, theirs, their_open, my_outer) = if from_left {
                (
                    &mut self.left,
                    &mut self.right,
                    &mut self.right_open,
                    matches!(self.join_type, JoinType::Left | JoinType::Full),
                )
            } else {
                (
                    &mut self.right,
                    &mut self.left,
                    &mut self.left_open,
                    matches!(self.join_type, JoinType::Right | JoinType::Full),
                )
            };
            mine.put(k, t, seq, &row)?;
            let partners = theirs.fetch(k, t.saturating_sub(reach_back), t.saturating_add(reach_ahead))?;
            let matched = !partners.is_empty();
            for (e, other) in partners {
                let (left, right) = if from_left {
                    (Some(row.clone()), Some(other.to_vec()))
                } else {
                    (Some(other.to_vec()), Some(row.clone()))
                };
                out.push(Out { left, right, rowtime: t.max(e.time), tombstone: false });
                their_open.remove(k, e.time, e.tiebreak)?;
            }
            if !matched && my_outer {
                let open = if from_left { &mut self.left_open } else { &mut self.right_open };
                open.put(k, t, seq, &row)?;
            }
        }
        self.c.emit(out, ctx)
    }

    fn advance(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.watermark());
        if self.observed == i64::MIN {
            return Ok(());
        }
        let mut out = Vec::new();
        if self.outer_left() {
            let bound = self.observed.saturating_sub(self.after).saturating_sub(self.grace);
            for e in self.left_open.older_than(bound)? {
                if let Some(v) = self.left_open.get(&e.key, e.time, e.tiebreak)? {
                    out.push(Out { left: Some(v.to_vec()), right: None, rowtime: e.time, tombstone: false });
                }
                self.left_open.remove(&e.key, e.time, e.tiebreak)?;
            }
        }
        if self.outer_right() {
            let bound = self.observed.saturating_sub(self.before).saturating_sub(self.grace);
            for e in self.right_open.older_than(bound)? {
                if let Some(v) = self.right_open.get(&e.key, e.time, e.tiebreak)? {
                    out.push(Out { left: None, right: Some(v.to_vec()), rowtime: e.time, tombstone: false });
                }
                self.right_open.remove(&e.key, e.time, e.tiebreak)?;
            }
        }
        let expire_before = self.observed.saturating_sub(join_horizon(self.before, self.after, self.grace));
        self.left.expire(expire_before)?;
        self.right.expire(expire_before)?;
        self.c.emit(out, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.late.flush(ctx);
        self.left.flush()?;
        self.right.flush()?;
        self.left_open.flush()?;
        self.right_open.flush()?;
        Ok(())
    }
}
