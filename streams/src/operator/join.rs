//! Joins on equal keys.
//!
//! * Stream-stream ([`StreamStreamJoin`]): both sides are buffered per key by time. A record
//!   joins the other side's buffered records within the join window. For left and outer joins
//!   a record that found no partner is held until its window closes (`t + window + grace`
//!   passes) and only then emitted with `None` — so a late partner does not produce both a
//!   `None` result and a match (Kafka Streams' behaviour since 3.1).
//! * Stream-table ([`StreamTableJoin`]): a stream record looks up the table's current value.
//! * Table-table ([`TableTableJoinSide`]): a change on either side is joined with the other
//!   side's current value, and the previous result is retracted through `Change::old`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::{decode, encode, key_bytes};
use crate::dsl::Change;
use crate::dsl::node::{Downstream, Processor};
use crate::error::Result;
use crate::record::Record;
use crate::serde::SerdeRef;
use crate::state::join_buffer::{JoinBuffer, join_horizon};
use crate::state::session::KeyTimeStore;
use crate::task::{StoreRef, TaskContext};

/// Which records a join emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matches.
    Inner,
    /// Matches, and unmatched left records.
    Left,
    /// Matches, and unmatched records of both sides.
    Outer,
}

/// Combines a left and a right value (either may be absent) into an optional result.
pub type Joiner<V1, V2, VR> = Arc<dyn Fn(Option<&V1>, Option<&V2>) -> Option<VR> + Send + Sync>;

/// State shared by the two sides of a stream-stream join.
pub struct StreamStreamJoin<K, V1, V2, VR> {
    /// Operator name.
    pub name: String,
    /// Left records may join right records in `[t - before, t + after]`.
    pub before: i64,
    /// See `before`.
    pub after: i64,
    /// Grace period.
    pub grace: i64,
    /// Join kind.
    pub kind: JoinKind,
    /// Buffered left records.
    pub left: JoinBuffer,
    /// Buffered right records.
    pub right: JoinBuffer,
    /// Left records still without a partner (left/outer joins).
    pub left_open: KeyTimeStore,
    /// Right records still without a partner (outer joins).
    pub right_open: KeyTimeStore,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Left value serde.
    pub left_serde: SerdeRef<V1>,
    /// Right value serde.
    pub right_serde: SerdeRef<V2>,
    /// Joiner.
    pub joiner: Joiner<V1, V2, VR>,
    /// Largest timestamp seen on either side.
    pub observed: i64,
    /// Sequence for buffered records.
    pub seq: i64,
    /// Output.
    pub down: Downstream<K, VR>,
}

impl<K: Clone + 'static, V1: 'static, V2: 'static, VR: Clone + 'static> StreamStreamJoin<K, V1, V2, VR> {
    fn emit(&mut self, key: &K, vr: Option<VR>, ts: i64, ctx: &mut TaskContext) -> Result<()> {
        if let Some(value) = vr {
            self.down.borrow_mut().process(Record::new(key.clone(), value, ts), ctx)?;
        }
        Ok(())
    }

    fn on_left(&mut self, r: Record<K, V1>, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.time_after(r.timestamp));
        let t = r.timestamp;
        if t.saturating_add(self.after).saturating_add(self.grace) < self.observed {
            ctx.record_late();
            return Ok(());
        }
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let Some(vb) = encode(&self.left_serde, &r.value, ctx, &self.name) else { return Ok(()) };
        self.seq += 1;
        let seq = self.seq;
        self.left.put(&kb, t, seq, &vb)?;
        let partners = self.right.fetch(&kb, t.saturating_sub(self.before), t.saturating_add(self.after))?;
        let matched = !partners.is_empty();
        for (e, rb) in partners {
            if let Some(rv) = decode(&self.right_serde, Some(rb), ctx, &self.name) {
                let out = (self.joiner)(Some(&r.value), Some(&rv));
                self.emit(&r.key, out, t.max(e.time), ctx)?;
            }
            if self.kind == JoinKind::Outer {
                self.right_open.remove(&kb, e.time, e.tiebreak)?;
            }
        }
        if !matched && self.kind != JoinKind::Inner {
            self.left_open.put(&kb, t, seq, &vb)?;
        }
        Ok(())
    }

    fn on_right(&mut self, r: Record<K, V2>, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.time_after(r.timestamp));
        let t = r.timestamp;
        if t.saturating_add(self.before).saturating_add(self.grace) < self.observed {
            ctx.record_late();
            return Ok(());
        }
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let Some(vb) = encode(&self.right_serde, &r.value, ctx, &self.name) else { return Ok(()) };
        self.seq += 1;
        let seq = self.seq;
        self.right.put(&kb, t, seq, &vb)?;
        let partners = self.left.fetch(&kb, t.saturating_sub(self.after), t.saturating_add(self.before))?;
        let matched = !partners.is_empty();
        for (e, lb) in partners {
            if let Some(lv) = decode(&self.left_serde, Some(lb), ctx, &self.name) {
                let out = (self.joiner)(Some(&lv), Some(&r.value));
                self.emit(&r.key, out, t.max(e.time), ctx)?;
            }
            if self.kind != JoinKind::Inner {
                self.left_open.remove(&kb, e.time, e.tiebreak)?;
            }
        }
        if !matched && self.kind == JoinKind::Outer {
            self.right_open.put(&kb, t, seq, &vb)?;
        }
        Ok(())
    }

    fn on_advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(watermark);
        if self.kind != JoinKind::Inner {
            let bound = self.observed.saturating_sub(self.after).saturating_sub(self.grace);
            for e in self.left_open.older_than(bound)? {
                let lv = decode(
                    &self.left_serde,
                    self.left_open.get(&e.key, e.time, e.tiebreak)?,
                    ctx,
                    &self.name,
                );
                self.left_open.remove(&e.key, e.time, e.tiebreak)?;
                if let (Some(lv), Ok(key)) = (lv, self.key_serde.deserialize(Some(&e.key))) {
                    let out = (self.joiner)(Some(&lv), None);
                    self.emit(&key, out, e.time, ctx)?;
                }
            }
        }
        if self.kind == JoinKind::Outer {
            let bound = self.observed.saturating_sub(self.before).saturating_sub(self.grace);
            for e in self.right_open.older_than(bound)? {
                let rv = decode(
                    &self.right_serde,
                    self.right_open.get(&e.key, e.time, e.tiebreak)?,
                    ctx,
                    &self.name,
                );
                self.right_open.remove(&e.key, e.time, e.tiebreak)?;
                if let (Some(rv), Ok(key)) = (rv, self.key_serde.deserialize(Some(&e.key))) {
                    let out = (self.joiner)(None, Some(&rv));
                    self.emit(&key, out, e.time, ctx)?;
                }
            }
        }
        // Buffered records older than this can no longer meet a non-late record of the other side.
        let expire_before = self.observed.saturating_sub(join_horizon(self.before, self.after, self.grace));
        self.left.expire(expire_before)?;
        self.right.expire(expire_before)?;
        self.down.borrow_mut().advance(watermark, ctx)
    }
}

/// Shared handle to the join state.
pub type SharedJoin<K, V1, V2, VR> = Rc<RefCell<StreamStreamJoin<K, V1, V2, VR>>>;

/// The left input of a stream-stream join.
pub struct LeftInput<K, V1, V2, VR>(pub SharedJoin<K, V1, V2, VR>);
/// The right input of a stream-stream join.
pub struct RightInput<K, V1, V2, VR>(pub SharedJoin<K, V1, V2, VR>);

impl<K: Clone + 'static, V1: 'static, V2: 'static, VR: Clone + 'static> Processor<K, V1>
    for LeftInput<K, V1, V2, VR>
{
    fn process(&mut self, r: Record<K, V1>, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().on_left(r, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().on_advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        let mut j = self.0.borrow_mut();
        j.left.flush()?;
        j.right.flush()?;
        j.left_open.flush()?;
        j.right_open.flush()?;
        let down = j.down.clone();
        drop(j);
        down.borrow_mut().flush(ctx)
    }
}

impl<K: Clone + 'static, V1: 'static, V2: 'static, VR: Clone + 'static> Processor<K, V2>
    for RightInput<K, V1, V2, VR>
{
    fn process(&mut self, r: Record<K, V2>, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().on_right(r, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.0.borrow_mut().on_advance(watermark, ctx)
    }
    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        // The left input flushes the shared state.
        Ok(())
    }
}

/// Joins stream records with a table's current values.
pub struct StreamTableJoin<K, V, VT, VR> {
    /// Operator name.
    pub name: String,
    /// The table's store.
    pub table: StoreRef,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Table value serde.
    pub table_serde: SerdeRef<VT>,
    /// `(stream value, table value) → result`.
    pub joiner: super::ValueJoiner<V, VT, VR>,
    /// Output.
    pub down: Downstream<K, VR>,
}

impl<K: Clone + 'static, V: 'static, VT: 'static, VR: Clone + 'static> Processor<K, V>
    for StreamTableJoin<K, V, VT, VR>
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let stored = self.table.borrow_mut().get(&kb)?;
        let tv = decode(&self.table_serde, stored, ctx, &self.name);
        if let Some(out) = (self.joiner)(&r.value, tv.as_ref()) {
            let rec = Record { key: r.key, value: out, timestamp: r.timestamp, headers: r.headers };
            self.down.borrow_mut().process(rec, ctx)?;
        }
        Ok(())
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}

/// One side of a table-table join: joins its changes with the other side's store.
pub struct TableTableJoinSide<K, VThis, VOther, VR> {
    /// Operator name.
    pub name: String,
    /// Whether this is the left side (the joiner's first argument).
    pub is_left: bool,
    /// The other table's store.
    pub other: StoreRef,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Other side's value serde.
    pub other_serde: SerdeRef<VOther>,
    /// `(this, other) → result`, already oriented.
    pub joiner: super::OptionJoiner<VThis, VOther, VR>,
    /// Output.
    pub down: Downstream<K, Change<VR>>,
}

impl<K: Clone + 'static, VThis: 'static, VOther: 'static, VR: Clone + 'static> Processor<K, Change<VThis>>
    for TableTableJoinSide<K, VThis, VOther, VR>
{
    fn process(&mut self, r: Record<K, Change<VThis>>, ctx: &mut TaskContext) -> Result<()> {
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let stored = self.other.borrow_mut().get(&kb)?;
        let other = decode(&self.other_serde, stored, ctx, &self.name);
        let new = (self.joiner)(r.value.new.as_ref(), other.as_ref());
        let old = (self.joiner)(r.value.old.as_ref(), other.as_ref());
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        let rec =
            Record { key: r.key, value: Change { new, old }, timestamp: r.timestamp, headers: r.headers };
        self.down.borrow_mut().process(rec, ctx)
    }
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().advance(watermark, ctx)
    }
    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.down.borrow_mut().flush(ctx)
    }
}
