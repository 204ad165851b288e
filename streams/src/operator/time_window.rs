//! Tumbling and hopping window aggregation.
//!
//! A record is added to every window containing its timestamp, unless the window has closed:
//! `window end + grace <= observed stream time`, in which case the record is dropped and
//! counted as late (Kafka Streams' rule). With emit-on-update every window update is emitted;
//! with emit-final nothing is emitted until a window closes, then its final aggregate is
//! emitted exactly once and the window is dropped from the store.

use bytes::Bytes;

use super::{Adder, Init, decode, encode, key_bytes};
use crate::dsl::node::{Downstream, Processor};
use crate::dsl::{Change, TimeWindows, Window, Windowed};
use crate::error::Result;
use crate::record::Record;
use crate::serde::SerdeRef;
use crate::state::window::WindowStore;
use crate::task::TaskContext;

/// The windowed aggregation processor.
pub struct TimeWindowAggregate<K, V, A> {
    /// Operator name.
    pub name: String,
    /// Window definition.
    pub windows: TimeWindows,
    /// How long windows stay queryable after they start (≥ size + grace).
    pub retention: i64,
    /// Aggregates by (window start, key).
    pub store: WindowStore,
    /// Key serde.
    pub key_serde: SerdeRef<K>,
    /// Aggregate serde.
    pub agg_serde: SerdeRef<A>,
    /// Initial aggregate.
    pub init: Init<A>,
    /// Fold function.
    pub adder: Adder<K, V, A>,
    /// Emit only final results when windows close.
    pub emit_final: bool,
    /// Largest timestamp seen.
    pub observed: i64,
    /// Windows starting below this were already emitted (emit-final).
    pub emitted_below: i64,
    /// Windows starting below this were already deleted.
    pub expired_below: i64,
    /// Where changes go.
    pub down: Downstream<Windowed<K>, Change<A>>,
}

impl<K: Clone + 'static, V: Clone + 'static, A: Clone + 'static> Processor<K, V>
    for TimeWindowAggregate<K, V, A>
{
    fn process(&mut self, r: Record<K, V>, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(ctx.time_after(r.timestamp));
        let close = self.observed.saturating_sub(self.windows.grace);
        let Some(kb) = key_bytes(&self.key_serde, &r.key, ctx, &self.name) else { return Ok(()) };
        let mut late = false;
        for w in self.windows.windows_for(r.timestamp) {
            if w.end <= close {
                late = true;
                continue;
            }
            let old = decode(&self.agg_serde, self.store.get(&kb, w.start)?, ctx, &self.name);
            let base = old.clone().unwrap_or_else(|| (self.init)());
            let new = (self.adder)(&r.key, r.value.clone(), base);
            let Some(nb) = encode(&self.agg_serde, &new, ctx, &self.name) else { continue };
            self.store.put(&kb, w.start, &nb)?;
            if !self.emit_final {
                let rec = Record {
                    key: Windowed { key: r.key.clone(), window: w },
                    value: Change { new: Some(new), old },
                    timestamp: r.timestamp,
                    headers: r.headers.clone(),
                };
                self.down.borrow_mut().process(rec, ctx)?;
            }
        }
        if late {
            ctx.record_late();
        }
        Ok(())
    }

    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()> {
        self.observed = self.observed.max(watermark);
        let size = self.windows.size;
        // Windows with start + size + grace <= observed are closed.
        let closed_below =
            self.observed.saturating_sub(self.windows.grace).saturating_sub(size).saturating_add(1);
        if self.emit_final && closed_below > self.emitted_below {
            let mut closed: Vec<(Bytes, i64, Bytes)> = Vec::new();
            self.store.scan(self.emitted_below, closed_below, &mut |k, start, v| {
                closed.push((Bytes::copy_from_slice(k), start, Bytes::copy_from_slice(v)));
                true
            })?;
            for (kb, start, vb) in closed {
                let Ok(key) = self.key_serde.deserialize(Some(&kb)) else { continue };
                let Some(agg) = decode(&self.agg_serde, Some(vb), ctx, &self.name) else { continue };
                let window = Window { start, end: start + size };
                let rec = Record {
                    key: Windowed { key, window },
                    value: Change { new: Some(agg), old: None },
                    timestamp: window.end - 1,
                    headers: Vec::new(),
                };
                self.down.borrow_mut().process(rec, ctx)?;
            }
            self.emitted_below = closed_below;
            self.store.expire_before(closed_below)?;
        }
        // Expire whole windows only, once per window advance: each expiry is a range delete,
        // and RocksDB range tombstones are cheap only when they are few.
        let retained_from = self.observed.saturating_sub(self.retention).saturating_add(1);
        let aligned = retained_from.div_euclid(self.windows.advance).saturating_mul(self.windows.advance);
        if !self.emit_final && aligned > self.expired_below {
            self.store.expire_before(aligned)?;
            self.expired_below = aligned;
        }
        self.down.borrow_mut().advance(watermark, ctx)
    }

    fn flush(&mut self, ctx: &mut TaskContext) -> Result<()> {
        self.store.flush()?;
        self.down.borrow_mut().flush(ctx)
    }
}
