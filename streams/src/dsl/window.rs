//! Window definitions and windowed keys.
//!
//! * [`TimeWindows`]: tumbling (`of_size`) or hopping (`advance_by`) windows `[start, end)`,
//!   aligned to the epoch, as in Kafka Streams.
//! * [`SlidingWindows`]: windows `[t - difference, t]` anchored on the records themselves.
//! * [`SessionWindows`]: per-key sessions that grow while records arrive within the gap.
//!
//! Every window type has a grace period: a record whose windows all closed (window end plus
//! grace at or before stream time) is dropped and counted as late.

use std::sync::Arc;

use bytes::Bytes;

use crate::serde::{Serde, SerdeRef};
use crate::windowed_key;

/// A time interval. Time windows are `[start, end)`; session windows are `[start, end]`
/// (the timestamps of their first and last record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Start (ms).
    pub start: i64,
    /// End (ms).
    pub end: i64,
}

/// A key together with the window it was aggregated in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

/// Tumbling or hopping windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    /// Window length (ms).
    pub size: i64,
    /// Distance between window starts (= size for tumbling windows).
    pub advance: i64,
    /// How long after its end a window still accepts late records.
    pub grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size_ms`, no grace.
    pub fn of_size(size_ms: i64) -> Self {
        let size = size_ms.max(1);
        TimeWindows { size, advance: size, grace: 0 }
    }

    /// Makes the windows hopping: a new window starts every `advance_ms`.
    pub fn advance_by(mut self, advance_ms: i64) -> Self {
        self.advance = advance_ms.clamp(1, self.size);
        self
    }

    /// Sets the grace period.
    pub fn grace(mut self, grace_ms: i64) -> Self {
        self.grace = grace_ms.max(0);
        self
    }

    /// All windows containing `timestamp`, oldest first.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        time_window_starts(timestamp, self.size, self.advance)
            .map(|start| Window { start, end: start.saturating_add(self.size) })
            .collect()
    }
}

/// The starts of the time windows of `size` ms, one every `advance` ms (aligned to the epoch),
/// that contain `timestamp`, oldest first: the window-assignment rule of the DSL and of SQL.
/// Windows that would start before `i64::MIN` are left out; a window's end (`start + size`)
/// may pass `i64::MAX`, so callers saturate it. `size` and `advance` are at least 1 (clamped).
pub fn time_window_starts(timestamp: i64, size: i64, advance: i64) -> impl Iterator<Item = i64> {
    let (t, size, advance) = (timestamp as i128, size.max(1) as i128, advance.max(1) as i128);
    let first = (t - size + advance).div_euclid(advance) * advance;
    (0..)
        .map(move |k| first + k * advance)
        .take_while(move |&start| start <= t)
        .filter(move |&start| start + size > t && start >= i64::MIN as i128)
        .map(|start| start as i64)
}

/// Sliding windows: every record defines a window ending at its timestamp and covering the
/// preceding `difference` ms (Kafka Streams' `SlidingWindows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    /// Maximum time difference between records in one window (ms).
    pub difference: i64,
    /// Grace period.
    pub grace: i64,
}

impl SlidingWindows {
    /// Sliding windows with the given maximum time difference and grace.
    pub fn with_time_difference_and_grace(difference_ms: i64, grace_ms: i64) -> Self {
        SlidingWindows { difference: difference_ms.max(0), grace: grace_ms.max(0) }
    }
}

/// Session windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// Inactivity gap that ends a session (ms).
    pub gap: i64,
    /// Grace period.
    pub grace: i64,
}

impl SessionWindows {
    /// Sessions separated by at least `gap_ms` of inactivity, no grace.
    pub fn with_inactivity_gap(gap_ms: i64) -> Self {
        SessionWindows { gap: gap_ms.max(0), grace: 0 }
    }

    /// Sets the grace period.
    pub fn grace(mut self, grace_ms: i64) -> Self {
        self.grace = grace_ms.max(0);
        self
    }
}

/// Serde of windowed keys in Kafka Streams' layout: time windows are `key ‖ start` (8 bytes,
/// big-endian), session windows `key ‖ end ‖ start`.
pub struct WindowedSerde<K> {
    inner: SerdeRef<K>,
    /// `Some(size)` for time windows, `None` for session windows.
    size: Option<i64>,
}

impl<K: 'static> WindowedSerde<K> {
    /// For time windows of `size` ms.
    pub fn time(inner: SerdeRef<K>, size: i64) -> SerdeRef<Windowed<K>> {
        Arc::new(WindowedSerde { inner, size: Some(size) })
    }

    /// For session windows.
    pub fn session(inner: SerdeRef<K>) -> SerdeRef<Windowed<K>> {
        Arc::new(WindowedSerde { inner, size: None })
    }
}

impl<K: 'static> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>) -> Result<Option<Bytes>, String> {
        let key = self.inner.serialize(&value.key)?.unwrap_or_default();
        let mut out = Vec::with_capacity(key.len() + 16);
        out.extend_from_slice(&key);
        windowed_key::append(&mut out, value.window.start, value.window.end, self.size.is_none());
        Ok(Some(Bytes::from(out)))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Windowed<K>, String> {
        let b = bytes.ok_or("null windowed key")?;
        let (key, start, end) = windowed_key::split(b, self.size)
            .ok_or_else(|| format!("windowed key of {} bytes is too short", b.len()))?;
        Ok(Windowed { key: self.inner.deserialize(Some(key))?, window: Window { start, end } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::serdes;

    #[test]
    fn tumbling_and_hopping_assignment() {
        let t = TimeWindows::of_size(10);
        assert_eq!(t.windows_for(0), vec![Window { start: 0, end: 10 }]);
        assert_eq!(t.windows_for(19), vec![Window { start: 10, end: 20 }]);
        assert_eq!(t.windows_for(-1), vec![Window { start: -10, end: 0 }]);
        let h = TimeWindows::of_size(10).advance_by(5);
        assert_eq!(h.windows_for(12), vec![Window { start: 5, end: 15 }, Window { start: 10, end: 20 }]);
        assert_eq!(h.windows_for(10), vec![Window { start: 5, end: 15 }, Window { start: 10, end: 20 }]);
    }

    /// Timestamps at the ends of the range neither loop forever (an overflowing start wrapped
    /// around and never passed the timestamp) nor overflow.
    #[test]
    fn assignment_at_the_ends_of_time() {
        let h = TimeWindows::of_size(10).advance_by(5);
        let max = h.windows_for(i64::MAX);
        assert_eq!(max.len(), 2, "{max:?}");
        assert_eq!(max.iter().map(|w| w.start).collect::<Vec<_>>(), vec![i64::MAX - 7, i64::MAX - 2]);
        assert!(max.iter().all(|w| w.end == i64::MAX));
        // Windows containing i64::MIN would start before it unless it is aligned: none here.
        assert_eq!(h.windows_for(i64::MIN), vec![]);
        assert_eq!(
            TimeWindows::of_size(8).windows_for(i64::MIN),
            vec![Window { start: i64::MIN, end: i64::MIN + 8 }]
        );
        let t = TimeWindows::of_size(i64::MAX);
        assert_eq!(t.windows_for(-1).len(), 1);
        assert_eq!(time_window_starts(0, 10, 20).collect::<Vec<_>>(), vec![0]);
        assert_eq!(time_window_starts(15, 10, 20).count(), 0, "in the gap between windows");
    }

    #[test]
    fn windowed_serde_round_trips() {
        let s = WindowedSerde::time(serdes::string(), 100);
        let w = Windowed { key: "k".to_string(), window: Window { start: 200, end: 300 } };
        let b = s.serialize(&w).unwrap().unwrap();
        assert_eq!(&b[..1], b"k");
        assert_eq!(s.deserialize(Some(&b)).unwrap(), w);
        let s = WindowedSerde::session(serdes::string());
        let w = Windowed { key: "k".to_string(), window: Window { start: 5, end: 9 } };
        assert_eq!(s.deserialize(s.serialize(&w).unwrap().as_deref()).unwrap(), w);
        assert!(s.deserialize(Some(b"x")).is_err());
    }
}
