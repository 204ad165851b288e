//! Session window aggregation.
//!
//! Sessions are stored by (key, end, start). A record at `t` merges every session of its key
//! that ends at or after `t - gap` and starts at or before `t + gap` into one session,
//! combining their aggregates with the merger; the merged-away sessions are retracted
//! downstream (a change with no new value). A session can no longer change once stream time
//! passes `end + gap + grace`; then it is final (and emitted, with emit-final) and dropped.

use bytes::Bytes;

use super::{Adder, Init, Merger, decode, encode, key_bytes};
use crate::dsl::node::{Downstream, Processor};
use crate::dsl::{Change, SessionWindows, Window, Windowed};
use crate::error::Result;
use crate::record::Record;
use crate::serde::SerdeRef;
use crate::state::session::KeyTimeStore;
use crate::task::TaskContext;

/// The session aggregation processor.
pub struct SessionWindowAggregate<K, V, A> {
    /// Operator name.
    pub name: String,
    /// Gap and grace.
    pub windows: SessionWindows,
    /// Sessions: time = end, tiebreak = start.
    pub store: KeyTimeStore,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Aggregate serde.
    pub agg_serde: SerdeRef<A>,
    /// Initial aggregate.
    pub init: Init<A>,
    /// Fold function.
    pub adder: Adder<K, V, A>,
    /// Combines merged sessions.
    pub merger: Merger<K, A>,
    /// Emit only final sessions.
    pub emit_final: bool,
    /// Largest timestamp seen.
    pub observed: i64,
    /// Where changes go.
    pub down: Downstream<Windowed<K>, Change<A>>,
}

impl<K: Clone + 'static, V: 'static, A: Clone + 'static> Processor<K, V> for SessionWindowAggregate<K, V, A> {
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.time_after(r.timestamp));
        let close = self.observed.saturating_sub(self.windows.grace);
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let t = r.timestamp;
        let gap = self.windows.gap;
        let overlapping: Vec<_> = self
            .store
            .fetch(&kb, t.saturating_sub(gap), i64::MAX)?
            .into_iter()
            .filter(|(e, _)| e.tiebreak <= t.saturating_add(gap))
            .collect();
        let (mut start, mut end) = (t, t);
        let mut agg = (self.init)();
        let mut merged = Vec::new();
        for (e, vb) in overlapping {
            start = start.min(e.tiebreak);
            end = end.max(e.time);
            if let Some(old) = decode(&self.agg_serde, Some(vb), ctx, &self.name) {
                agg = (self.merger)(&r.key, agg, old.clone());
                merged.push((Window { start: e.tiebreak, end: e.time }, old));
            }
        }
        if end < close {
            ctx.record_late();
            return Ok(());
        }
        let agg = (self.adder)(&r.key, r.value, agg);
        let Some(nb) = encode(&self.agg_serde, &agg, ctx, &self.name) else { return Ok(()) };
        for (w, old) in merged {
            self.store.remove(&kb, w.end, w.start)?;
            if !self.emit_final {
                let rec = Record {
                    key: Windowed { key: r.key.clone(), window: w },
                    value: Change { new: None, old: Some(old) },
                    timestamp: t,
                    headers: r.headers.clone(),
                };
                self.down.borrow_mut().process(rec, ctx)?;
            }
        }
        self.store.put(&kb, end, start, &nb)?;
        if !self.emit_final {
            let rec = Record {
                key: Windowed { key: r.key, window: Window { start, end } },
                value: Change { new: Some(agg), old: None },
                timestamp: t,
                headers: r.headers,
            };
            self.down.borrow_mut().process(rec, ctx)?;
        }
        Ok(())
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(watermark);
        // Sessions ending before this can never change again.
        let final_before = self.observed.saturating_sub(self.windows.gap).saturating_sub(self.windows.grace);
        let done = self.store.older_than(final_before)?;
        for e in done {
            if self.emit_final {
                let vb: Option<Bytes> = self.store.get(&e.key, e.time, e.tiebreak)?;
                let agg = decode(&self.agg_serde, vb, ctx, &self.name);
                if let (Ok(key), Some(agg)) = (self.key_serde.deserialize(Some(&e.key)), agg) {
                    let window = Window { start: e.tiebreak, end: e.time };
                    let rec = Record {
                        key: Windowed { key, window },
                        value: Change { new: Some(agg), old: None },
                        timestamp: e.time,
                        headers: Vec::new(),
                    };
                    self.down.borrow_mut().process(rec, ctx)?;
                }
            }
            self.store.remove(&e.key, e.time, e.tiebreak)?;
        }
        self.down.borrow_mut().advance(watermark, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.store.flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}
