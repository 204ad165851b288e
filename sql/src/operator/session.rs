//! Session-window aggregation.
//!
//! Sessions are kept in a key-and-time store (`brook_streams::state::session::KeyTimeStore`:
//! key, end, start → saved accumulators). A row at `t` merges every session of its key that
//! ends at or after `t - gap` and starts at or before `t + gap`; merged-away sessions are
//! retracted downstream (a tombstone for their windowed key) and the merged session is
//! emitted — the same semantics as the DSL's session operator. A session whose end is more
//! than `gap + grace` behind stream time is final: emitted then with `EMIT FINAL`, and dropped.

use std::sync::Arc;

use brook_streams::state::SharedStore;
use brook_streams::state::encoding::{read_ts, ts};
use brook_streams::state::session::KeyTimeStore;
use brook_streams::task::{StoreRef, TaskContext};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};

use super::log::LateLog;
use super::{Down, Operator};
use crate::error::{Error, Result};
use crate::functions::AggFunc;
use crate::functions::accumulators::{GroupsAccumulator, load_all, save_all};

struct OutRow {
    key: Vec<u8>,
    start: i64,
    end: i64,
    rowtime: i64,
    tombstone: bool,
    slot: u32,
}

/// The session aggregation operator.
pub(crate) struct SessionAggregateOp {
    group_count: usize,
    aggs: Vec<AggFunc>,
    gap: i64,
    grace: i64,
    emit_final: bool,
    schema: SchemaRef,
    key_conv: RowConverter,
    accs: Vec<Box<dyn GroupsAccumulator>>,
    slots: usize,
    store: KeyTimeStore,
    meta_store: StoreRef,
    observed: i64,
    late: LateLog,
    down: Down,
}

const META_KEY: &[u8] = b"time";

impl SessionAggregateOp {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        group_count: usize,
        group_types: Vec<DataType>,
        aggs: Vec<AggFunc>,
        gap: i64,
        grace: i64,
        emit_final: bool,
        schema: SchemaRef,
        by_key: StoreRef,
        by_time: StoreRef,
        meta_store: StoreRef,
        late: LateLog,
        down: Down,
    ) -> Result<Self> {
        let key_conv = RowConverter::new(group_types.into_iter().map(SortField::new).collect())?;
        let accs = aggs.iter().map(AggFunc::accumulator).collect::<Result<Vec<_>>>()?;
        let mut observed = i64::MIN;
        if let Some(b) = meta_store.borrow_mut().get(META_KEY)?
            && b.len() == 8
        {
            observed = read_ts(&b);
        }
        Ok(SessionAggregateOp {
            group_count,
            aggs,
            gap,
            grace,
            emit_final,
            schema,
            key_conv,
            accs,
            slots: 0,
            store: KeyTimeStore::new(Box::new(SharedStore::new(by_key)), Box::new(SharedStore::new(by_time))),
            meta_store,
            observed,
            late,
            down,
        })
    }

    fn scratch(&mut self) -> u32 {
        let s = self.slots;
        self.slots += 1;
        for a in &mut self.accs {
            a.resize(self.slots);
        }
        s as u32
    }

    fn load(&mut self, slot: u32, bytes: &[u8]) -> Result<i64> {
        let bad = || Error::Internal("session state in the store does not decode".into());
        let rowtime = i64::from_le_bytes(bytes.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        load_all(&mut self.accs, slot as usize, &bytes[8..])
            .map_err(|e| Error::Internal(format!("session state in the store does not decode: {e}")))?;
        Ok(rowtime)
    }

    fn save(&self, slot: u32, rowtime: i64) -> Vec<u8> {
        let mut out = rowtime.to_le_bytes().to_vec();
        save_all(&self.accs, slot as usize, &mut out);
        out
    }

    fn emit(&mut self, rows: Vec<OutRow>, ctx: &mut TaskContext) -> Result<()> {
        if rows.is_empty() {
            self.reset_scratch();
            return Ok(());
        }
        let parser = self.key_conv.parser();
        let mut cols: Vec<ArrayRef> =
            self.key_conv.convert_rows(rows.iter().map(|r| parser.parse(&r.key)))?;
        cols.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.start))));
        cols.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.end))));
        let slots: Vec<u32> = rows.iter().map(|r| r.slot).collect();
        for a in &mut self.accs {
            cols.push(a.evaluate(&slots)?);
        }
        cols.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.rowtime))));
        cols.push(Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.tombstone)))));
        let batch = RecordBatch::try_new(self.schema.clone(), cols)?;
        self.reset_scratch();
        self.down.send(batch, ctx)
    }

    fn reset_scratch(&mut self) {
        for s in 0..self.slots {
            for a in &mut self.accs {
                a.reset(s);
            }
        }
        self.slots = 0;
    }
}

impl Operator for SessionAggregateOp {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let g = self.group_count;
        let group_cols: Vec<ArrayRef> = batch.columns()[..g].to_vec();
        let keys = self.key_conv.convert_columns(&group_cols)?;
        let times = cast(batch.column(batch.num_columns() - 1), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let mut args = Vec::with_capacity(self.aggs.len());
        for (i, a) in self.aggs.iter().enumerate() {
            let col = batch.column(g + i);
            args.push(if col.data_type() == &a.input { col.clone() } else { cast(col, &a.input)? });
        }
        let mut out = Vec::new();
        for r in 0..batch.num_rows() {
            if group_cols.iter().any(|c| c.is_null(r)) {
                continue;
            }
            let t = times.value(r);
            self.observed = self.observed.max(ctx.time_after(t));
            let close = self.observed.saturating_sub(self.grace);
            let kb = keys.row(r).as_ref().to_vec();
            let overlapping: Vec<_> = self
                .store
                .fetch(&kb, t.saturating_sub(self.gap), i64::MAX)?
                .into_iter()
                .filter(|(e, _)| e.tiebreak <= t.saturating_add(self.gap))
                .collect();
            let (mut start, mut end) = (t, t);
            for (e, _) in &overlapping {
                start = start.min(e.tiebreak);
                end = end.max(e.time);
            }
            if end < close {
                self.late.dropped(ctx, t, end, self.observed);
                continue;
            }
            let slot = self.scratch();
            let mut rowtime = t;
            for (e, v) in overlapping {
                let old = self.scratch();
                let old_time = self.load(old, &v)?;
                rowtime = rowtime.max(old_time);
                for a in &mut self.accs {
                    a.merge(slot as usize, old as usize);
                }
                self.store.remove(&kb, e.time, e.tiebreak)?;
                if !self.emit_final {
                    out.push(OutRow {
                        key: kb.clone(),
                        start: e.tiebreak,
                        end: e.time,
                        rowtime: t,
                        tombstone: true,
                        slot: old,
                    });
                }
            }
            for (i, a) in self.accs.iter_mut().enumerate() {
                a.update(&args[i], &[r as u32], &[slot])?;
            }
            let state = self.save(slot, rowtime);
            self.store.put(&kb, end, start, &state)?;
            if !self.emit_final {
                out.push(OutRow { key: kb, start, end, rowtime: t, tombstone: false, slot });
            }
        }
        self.emit(out, ctx)
    }

    fn advance(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.watermark());
        if self.observed == i64::MIN {
            return Ok(());
        }
        let final_before = self.observed.saturating_sub(self.gap).saturating_sub(self.grace);
        let done = self.store.older_than(final_before)?;
        let mut out = Vec::new();
        for e in done {
            if self.emit_final
                && let Some(v) = self.store.get(&e.key, e.time, e.tiebreak)?
            {
                let slot = self.scratch();
                self.load(slot, &v)?;
                out.push(OutRow {
                    key: e.key.to_vec(),
                    start: e.tiebreak,
                    end: e.time,
                    rowtime: e.time,
                    tombstone: false,
                    slot,
                });
            }
            self.store.remove(&e.key, e.time, e.tiebreak)?;
        }
        self.emit(out, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.late.flush(ctx);
        self.store.flush()?;
        self.meta_store.borrow_mut().put(META_KEY, &ts(self.observed))?;
        self.meta_store.borrow_mut().flush()?;
        Ok(())
    }
}
