//! Sliding window aggregation (Kafka Streams' `SlidingWindows`).
//!
//! Windows are `[start, start + difference]`, inclusive, and exist where records define them:
//! each record at `t` defines the window ending at `t` (`[t - d, t]`) and the window starting
//! just after it (`[t + 1, t + 1 + d]`, if that window holds records). A record changes every
//! existing window that covers it. Raw values are buffered per key so each affected window is
//! recomputed from its records; windows holding no record are never emitted.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{Adder, Init, decode, encode, key_bytes};
use crate::dsl::node::{Downstream, Processor};
use crate::dsl::{Change, SlidingWindows, Window, Windowed};
use crate::error::Result;
use crate::record::Record;
use crate::serde::SerdeRef;
use crate::state::session::KeyTimeStore;
use crate::state::window::WindowStore;
use crate::task::TaskContext;

/// The sliding-window aggregation processor.
pub struct SlidingWindowAggregate<K, V, A> {
    /// Operator name.
    pub name: String,
    /// Difference and grace.
    pub windows: SlidingWindows,
    /// Buffered values: time = timestamp, tiebreak = sequence.
    pub records: KeyTimeStore,
    /// Current aggregate of each window by start.
    pub aggregates: WindowStore,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Value serde (for the buffer).
    pub value_serde: SerdeRef<V>,
    /// Aggregate serde.
    pub agg_serde: SerdeRef<A>,
    /// Initial aggregate.
    pub init: Init<A>,
    /// Fold function.
    pub adder: Adder<K, V, A>,
    /// Emit only final results.
    pub emit_final: bool,
    /// Largest timestamp seen.
    pub observed: i64,
    /// Windows starting below this were already emitted (emit-final).
    pub emitted_below: i64,
    /// Sequence for buffered records.
    pub seq: i64,
    /// Where changes go.
    pub down: Downstream<Windowed<K>, Change<A>>,
}

impl<K: Clone + 'static, V: Clone + 'static, A: Clone + 'static> Processor<K, V>
    for SlidingWindowAggregate<K, V, A>
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.time_after(r.timestamp));
        let d = self.windows.difference;
        let close = self.observed.saturating_sub(self.windows.grace);
        let t = r.timestamp;
        if t.saturating_add(d) < close {
            ctx.record_late();
            return Ok(());
        }
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let Some(vb) = encode(&self.value_serde, &r.value, ctx, &self.name) else { return Ok(()) };
        self.seq += 1;
        self.records.put(&kb, t, self.seq, &vb)?;
        let nearby = self.records.fetch(&kb, t.saturating_sub(2 * d + 1), t.saturating_add(2 * d + 1))?;
        let times: Vec<i64> = nearby.iter().map(|(e, _)| e.time).collect();
        let mut starts = BTreeSet::new();
        starts.insert(t - d);
        starts.insert(t + 1);
        for &e in &times {
            if e > t && e <= t + d {
                starts.insert(e - d);
            }
            if e >= t - d - 1 && e < t {
                starts.insert(e + 1);
            }
        }
        for s in starts {
            if s + d < close {
                continue;
            }
            let mut agg: Option<A> = None;
            for (e, v) in &nearby {
                if e.time >= s
                    && e.time <= s + d
                    && let Some(v) = decode(&self.value_serde, Some(v.clone()), ctx, &self.name)
                {
                    let base = agg.take().unwrap_or_else(|| (self.init)());
                    agg = Some((self.adder)(&r.key, v, base));
                }
            }
            let Some(new) = agg else { continue };
            let old = decode(&self.agg_serde, self.aggregates.get(&kb, s)?, ctx, &self.name);
            let Some(nb) = encode(&self.agg_serde, &new, ctx, &self.name) else { continue };
            self.aggregates.put(&kb, s, &nb)?;
            if !self.emit_final {
                let rec = Record {
                    key: Windowed { key: r.key.clone(), window: Window { start: s, end: s + d } },
                    value: Change { new: Some(new), old },
                    timestamp: t,
                    headers: r.headers.clone(),
                };
                self.down.borrow_mut().process(rec, ctx)?;
            }
        }
        Ok(())
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(watermark);
        let d = self.windows.difference;
        // Windows with start + d + grace < observed are closed.
        let closed_below = self.observed.saturating_sub(self.windows.grace).saturating_sub(d);
        if closed_below > self.emitted_below {
            if self.emit_final {
                let mut closed: Vec<(Bytes, i64, Bytes)> = Vec::new();
                self.aggregates.scan(self.emitted_below, closed_below, &mut |k, s, v| {
                    closed.push((Bytes::copy_from_slice(k), s, Bytes::copy_from_slice(v)));
                    true
                })?;
                for (kb, s, vb) in closed {
                    let Ok(key) = self.key_serde.deserialize(Some(&kb)) else { continue };
                    let Some(agg) = decode(&self.agg_serde, Some(vb), ctx, &self.name) else { continue };
                    let rec = Record {
                        key: Windowed { key, window: Window { start: s, end: s + d } },
                        value: Change { new: Some(agg), old: None },
                        timestamp: s + d,
                        headers: Vec::new(),
                    };
                    self.down.borrow_mut().process(rec, ctx)?;
                }
            }
            self.emitted_below = closed_below;
            self.aggregates.expire_before(closed_below)?;
            self.records.expire(closed_below.saturating_sub(d + 1))?;
        }
        self.down.borrow_mut().advance(watermark, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.records.flush()?;
        self.aggregates.flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}
