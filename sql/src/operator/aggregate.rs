//! Grouped aggregation, optionally over tumbling or hopping windows — the hot path of
//! streaming SQL, written batch-at-a-time:
//!
//! 1. group keys of the whole batch are row-encoded at once (arrow-row), window starts are
//!    computed from `ROWTIME`;
//! 2. each (window, key) is mapped to an accumulator *slot* through a hash map; new slots load
//!    their state from the store if it has any;
//! 3. every aggregate updates all its slots in one pass over the batch
//!    ([`GroupsAccumulator::update`]);
//! 4. with `EMIT CHANGES`, one row per touched group is emitted (Kafka Streams' caching
//!    behaviour: intermediate updates within a batch are folded together).
//!
//! State lives in the task's store as `window start ‖ key → saved accumulators` (time first,
//! as `brook_streams::state::window`), written on flush; the in-memory slots are a write-back
//! cache of it, bounded in size. Time semantics match the DSL's window operator: a record is
//! late when `window end + grace <= observed stream time`; with `EMIT FINAL` a window is
//! emitted exactly once when stream time passes its end plus grace, then dropped.
//!
//! Aggregating a TABLE (`retractions`): an input row (see [`super::retract`]) flagged `__ADD`
//! puts its new version into the group, one flagged `__RETRACT` takes its old version back out
//! ([`GroupsAccumulator::retract`]) — an update within a group does both at once — and each
//! group also counts its rows; a group whose count drops to zero is emitted as a
//! tombstone — the row disappears from the result table, as in ksqlDB — and deleted from the
//! store. Additions of a batch are applied before its retractions: every retraction undoes an
//! addition seen earlier, so this order never takes out what is not in yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_streams::dsl::time_window_starts;
use brook_streams::state::encoding::{read_ts, ts};
use brook_streams::task::{StoreRef, TaskContext};
use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashMap;

use super::log::LateLog;
use super::{Down, Operator};
use crate::error::{Error, Result};
use crate::functions::AggFunc;
use crate::functions::accumulators::{GroupsAccumulator, load_all, save_all};
use crate::parser::WindowKind;
use crate::planner::WindowSpec;

/// Slots kept in memory before the cache is written out and emptied.
const MAX_SLOTS: usize = 500_000;

#[derive(Clone, Copy)]
struct Meta {
    start: i64,
    rowtime: i64,
    /// Rows in the group (only kept with retractions).
    rows: i64,
    dirty: bool,
}

/// The windowed / unwindowed aggregation operator.
pub(crate) struct AggregateOp {
    group_count: usize,
    aggs: Vec<AggFunc>,
    window: Option<WindowSpec>,
    emit_final: bool,
    retractions: bool,
    schema: SchemaRef,
    key_conv: RowConverter,
    accs: Vec<Box<dyn GroupsAccumulator>>,
    index: FxHashMap<Box<[u8]>, u32>,
    keys: Vec<Box<[u8]>>,
    meta: Vec<Meta>,
    free: Vec<u32>,
    dirty: Vec<u32>,
    by_start: BTreeMap<i64, Vec<u32>>,
    store: StoreRef,
    meta_store: StoreRef,
    observed: i64,
    /// Windows starting below this are closed and gone (emitted with EMIT FINAL).
    expired_below: i64,
    touched_mark: Vec<u32>,
    generation: u32,
    buf: Vec<u8>,
    late: LateLog,
    down: Down,
}

const META_KEY: &[u8] = b"time";

impl AggregateOp {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        group_count: usize,
        group_types: Vec<datafusion::arrow::datatypes::DataType>,
        aggs: Vec<AggFunc>,
        window: Option<WindowSpec>,
        emit_final: bool,
        retractions: bool,
        schema: SchemaRef,
        store: StoreRef,
        meta_store: StoreRef,
        late: LateLog,
        down: Down,
    ) -> Result<Self> {
        let key_conv = RowConverter::new(group_types.into_iter().map(SortField::new).collect())?;
        let accs = aggs.iter().map(AggFunc::accumulator).collect::<Result<Vec<_>>>()?;
        let (mut observed, mut expired_below) = (i64::MIN, i64::MIN);
        if let Some(b) = meta_store.borrow_mut().get(META_KEY)?
            && b.len() == 16
        {
            observed = read_ts(&b[..8]);
            expired_below = read_ts(&b[8..]);
        }
        Ok(AggregateOp {
            group_count,
            aggs,
            window,
            emit_final,
            retractions,
            schema,
            key_conv,
            accs,
            index: FxHashMap::default(),
            keys: Vec::new(),
            meta: Vec::new(),
            free: Vec::new(),
            dirty: Vec::new(),
            by_start: BTreeMap::new(),
            store,
            meta_store,
            observed,
            expired_below,
            touched_mark: Vec::new(),
            generation: 0,
            buf: Vec::new(),
            late,
            down,
        })
    }

    fn prefix(&self) -> usize {
        if self.window.is_some() { 8 } else { 0 }
    }

    /// The slot of the state key in `self.buf`, created (and loaded from the store) if new.
    fn slot_for(&mut self, start: i64) -> Result<u32> {
        if let Some(&s) = self.index.get(self.buf.as_slice()) {
            return Ok(s);
        }
        let key: Box<[u8]> = self.buf.clone().into_boxed_slice();
        let stored = self.store.borrow_mut().get(&key)?;
        let slot = self.alloc(key, start);
        if let Some(bytes) = stored {
            self.load(slot, &bytes)?;
        }
        Ok(slot)
    }

    fn alloc(&mut self, key: Box<[u8]>, start: i64) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                self.keys[s as usize] = key.clone();
                self.meta[s as usize] = Meta { start, rowtime: i64::MIN, rows: 0, dirty: false };
                s
            }
            None => {
                let s = self.keys.len() as u32;
                self.keys.push(key.clone());
                self.meta.push(Meta { start, rowtime: i64::MIN, rows: 0, dirty: false });
                self.touched_mark.push(0);
                for a in &mut self.accs {
                    a.resize(s as usize + 1);
                }
                s
            }
        };
        self.index.insert(key, slot);
        if self.window.is_some() {
            self.by_start.entry(start).or_default().push(slot);
        }
        slot
    }

    fn release(&mut self, slot: u32) {
        let key = std::mem::take(&mut self.keys[slot as usize]);
        self.index.remove(&key);
        for a in &mut self.accs {
            a.reset(slot as usize);
        }
        self.meta[slot as usize].dirty = false;
        self.free.push(slot);
    }

    fn load(&mut self, slot: u32, bytes: &[u8]) -> Result<()> {
        let bad = || Error::Internal("aggregate state in the store does not decode".into());
        let rowtime = bytes.get(..8).ok_or_else(bad)?;
        self.meta[slot as usize].rowtime = i64::from_le_bytes(rowtime.try_into().map_err(|_| bad())?);
        let mut pos = 8;
        if self.retractions {
            let rows = bytes.get(8..16).ok_or_else(bad)?;
            self.meta[slot as usize].rows = i64::from_le_bytes(rows.try_into().map_err(|_| bad())?);
            pos = 16;
        }
        load_all(&mut self.accs, slot as usize, &bytes[pos..])
            .map_err(|e| Error::Internal(format!("aggregate state in the store does not decode: {e}")))
    }

    fn save(&self, slot: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.meta[slot as usize].rowtime.to_le_bytes());
        if self.retractions {
            out.extend_from_slice(&self.meta[slot as usize].rows.to_le_bytes());
        }
        save_all(&self.accs, slot as usize, &mut out);
        out
    }

    /// Output rows for `slots`.
    fn rows(&mut self, slots: &[u32], rowtimes: Option<&[i64]>) -> Result<RecordBatch> {
        let prefix = self.prefix();
        let parser = self.key_conv.parser();
        let mut cols = self
            .key_conv
            .convert_rows(slots.iter().map(|&s| parser.parse(&self.keys[s as usize][prefix..])))?;
        if let Some(w) = &self.window {
            let size = window_size(w.kind);
            cols.push(Arc::new(Int64Array::from_iter_values(
                slots.iter().map(|&s| self.meta[s as usize].start),
            )));
            cols.push(Arc::new(Int64Array::from_iter_values(
                slots.iter().map(|&s| self.meta[s as usize].start.saturating_add(size)),
            )));
        }
        for a in &mut self.accs {
            cols.push(a.evaluate(slots)?);
        }
        cols.push(Arc::new(match rowtimes {
            Some(t) => Int64Array::from(t.to_vec()),
            None => Int64Array::from_iter_values(slots.iter().map(|&s| self.meta[s as usize].rowtime)),
        }));
        // Retractions may leave a group empty: it is deleted.
        let gone = |s: &u32| self.retractions && self.meta[*s as usize].rows <= 0;
        cols.push(Arc::new(BooleanArray::from(slots.iter().map(gone).collect::<Vec<bool>>())));
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }

    /// Writes dirty slots to the store.
    fn write_dirty(&mut self) -> Result<()> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut batch = Vec::with_capacity(dirty.len());
        for s in dirty {
            let m = &mut self.meta[s as usize];
            if !m.dirty {
                continue;
            }
            m.dirty = false;
            let value = if self.retractions && m.rows <= 0 { None } else { Some(Bytes::from(self.save(s))) };
            batch.push((Bytes::copy_from_slice(&self.keys[s as usize]), value));
        }
        if !batch.is_empty() {
            self.store.borrow_mut().write_batch(batch)?;
        }
        Ok(())
    }

    /// Empties the in-memory cache (after writing it out).
    fn spill(&mut self) -> Result<()> {
        self.write_dirty()?;
        self.index.clear();
        self.keys.clear();
        self.meta.clear();
        self.free.clear();
        self.by_start.clear();
        self.touched_mark.clear();
        self.accs = self.aggs.iter().map(AggFunc::accumulator).collect::<Result<Vec<_>>>()?;
        Ok(())
    }

    /// Closes windows that ended `grace` ago: emits them (EMIT FINAL) and drops their state;
    /// with EMIT CHANGES drops windows past retention.
    fn expire(&mut self, ctx: &mut TaskContext) -> Result<()> {
        let Some(w) = self.window else { return Ok(()) };
        let size = window_size(w.kind);
        let below = if self.emit_final {
            self.observed.saturating_sub(w.grace).saturating_sub(size).saturating_add(1)
        } else {
            self.observed.saturating_sub(w.retention).saturating_add(1)
        };
        if below <= self.expired_below || self.observed == i64::MIN {
            return Ok(());
        }
        if self.emit_final {
            // Windows written out of memory earlier are only in the store.
            let mut spilled: Vec<(Vec<u8>, Bytes)> = Vec::new();
            let index = &self.index;
            self.store.borrow_mut().scan(&ts(self.expired_below), Some(&ts(below)), &mut |k, v| {
                if !index.contains_key(k) {
                    spilled.push((k.to_vec(), Bytes::copy_from_slice(v)));
                }
                true
            })?;
            for (k, v) in spilled {
                let start = read_ts(&k);
                let slot = self.alloc(k.into_boxed_slice(), start);
                self.load(slot, &v)?;
            }
        }
        let later = self.by_start.split_off(&below);
        let early = std::mem::replace(&mut self.by_start, later);
        let mut closed: Vec<u32> = early.into_values().flatten().collect();
        if self.emit_final && !closed.is_empty() {
            closed.sort_by(|a, b| self.keys[*a as usize].cmp(&self.keys[*b as usize]));
            let times: Vec<i64> = closed
                .iter()
                .map(|&s| self.meta[s as usize].start.saturating_add(size).saturating_sub(1))
                .collect();
            let batch = self.rows(&closed, Some(&times))?;
            self.down.send(batch, ctx)?;
        }
        for s in closed {
            self.release(s);
        }
        self.store.borrow_mut().delete_range(&ts(self.expired_below), &ts(below))?;
        self.expired_below = below;
        Ok(())
    }
}

fn window_size(kind: WindowKind) -> i64 {
    match kind {
        WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => size,
        WindowKind::Session { gap } => gap,
    }
}

impl Operator for AggregateOp {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let n = batch.num_rows();
        let g = self.group_count;
        let group_cols: Vec<ArrayRef> = batch.columns()[..g].to_vec();
        let rows = self.key_conv.convert_columns(&group_cols)?;
        let rowtime_col = batch.column(batch.num_columns() - 1).clone();
        // With retractions: (the __ADD flags, the __RETRACT flags).
        let flags = if self.retractions {
            let c = batch.num_columns();
            Some((batch.column(c - 3).as_boolean().clone(), batch.column(c - 2).as_boolean().clone()))
        } else {
            None
        };
        let mut undo_rows: Vec<u32> = Vec::new();
        let mut undo_slots: Vec<u32> = Vec::new();
        let rowtime_col = cast(&rowtime_col, &datafusion::arrow::datatypes::DataType::Int64)?;
        let times = rowtime_col.as_primitive::<Int64Type>();
        let any_null = group_cols.iter().any(|c| c.null_count() > 0);
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.touched_mark.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        let mut pair_rows: Vec<u32> = Vec::with_capacity(n);
        let mut pair_slots: Vec<u32> = Vec::with_capacity(n);
        let mut touched: Vec<u32> = Vec::new();
        for r in 0..n {
            if any_null && group_cols.iter().any(|c| c.is_null(r)) {
                continue;
            }
            let t = times.value(r);
            self.observed = self.observed.max(ctx.time_after(t));
            let key = rows.row(r);
            match self.window {
                None => {
                    self.buf.clear();
                    self.buf.extend_from_slice(key.as_ref());
                    let s = self.slot_for(0)?;
                    match &flags {
                        Some((add, undo)) => {
                            if add.is_valid(r) && add.value(r) {
                                pair_rows.push(r as u32);
                                pair_slots.push(s);
                                self.meta[s as usize].rows += 1;
                            }
                            if undo.is_valid(r) && undo.value(r) {
                                undo_rows.push(r as u32);
                                undo_slots.push(s);
                                self.meta[s as usize].rows -= 1;
                            }
                        }
                        None => {
                            pair_rows.push(r as u32);
                            pair_slots.push(s);
                        }
                    }
                    self.touch(s, t, &mut touched);
                }
                Some(w) => {
                    let close = self.observed.saturating_sub(w.grace);
                    let (size, advance) = match w.kind {
                        WindowKind::Tumbling { size } => (size, size),
                        WindowKind::Hopping { size, advance } => (size, advance),
                        WindowKind::Session { .. } => {
                            return Err(Error::Internal("session windows in AggregateOp".into()));
                        }
                    };
                    let mut any = false;
                    let mut was_late = false;
                    for start in time_window_starts(t, size, advance) {
                        if start.saturating_add(size) <= close || start < self.expired_below {
                            was_late = true;
                        } else {
                            self.buf.clear();
                            self.buf.extend_from_slice(&ts(start));
                            self.buf.extend_from_slice(key.as_ref());
                            let s = self.slot_for(start)?;
                            pair_rows.push(r as u32);
                            pair_slots.push(s);
                            self.touch(s, t, &mut touched);
                            any = true;
                        }
                    }
                    if was_late && !any {
                        let end = t.div_euclid(advance).saturating_mul(advance).saturating_add(size);
                        self.late.dropped(ctx, t, end, self.observed);
                    }
                }
            }
        }
        if pair_rows.is_empty() && undo_rows.is_empty() {
            return Ok(());
        }
        let a = self.aggs.len();
        for (i, acc) in self.accs.iter_mut().enumerate() {
            let want = &self.aggs[i].input;
            let typed = |col: &ArrayRef| -> Result<ArrayRef> {
                Ok(if col.data_type() == want { col.clone() } else { cast(col, want)? })
            };
            if !pair_rows.is_empty() {
                acc.update(&typed(batch.column(g + i))?, &pair_rows, &pair_slots)?;
            }
            if !undo_rows.is_empty() {
                acc.retract(&typed(batch.column(g + a + i))?, &undo_rows, &undo_slots)?;
            }
        }
        if !self.emit_final {
            let out = self.rows(&touched, None)?;
            self.down.send(out, ctx)?;
        }
        if self.retractions {
            // Emptied groups start afresh (no rounding left over from subtracting doubles).
            for &s in &touched {
                if self.meta[s as usize].rows <= 0 {
                    self.meta[s as usize].rows = 0;
                    for a in &mut self.accs {
                        a.reset(s as usize);
                    }
                }
            }
        }
        if self.index.len() > MAX_SLOTS {
            self.spill()?;
        }
        Ok(())
    }

    fn advance(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.watermark());
        self.expire(ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.late.flush(ctx);
        self.write_dirty()?;
        let mut m = Vec::with_capacity(16);
        m.extend_from_slice(&ts(self.observed));
        m.extend_from_slice(&ts(self.expired_below));
        self.meta_store.borrow_mut().put(META_KEY, &m)?;
        self.store.borrow_mut().flush()?;
        self.meta_store.borrow_mut().flush()?;
        Ok(())
    }
}

impl AggregateOp {
    fn touch(&mut self, s: u32, t: i64, touched: &mut Vec<u32>) {
        let m = &mut self.meta[s as usize];
        if t > m.rowtime {
            m.rowtime = t;
        }
        if !m.dirty {
            m.dirty = true;
            self.dirty.push(s);
        }
        if self.touched_mark[s as usize] != self.generation {
            self.touched_mark[s as usize] = self.generation;
            touched.push(s);
        }
    }
}
