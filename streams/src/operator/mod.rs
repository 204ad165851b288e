//! Stateful operators, one file per family. The DSL wires them; each owns its state stores
//! (opened through the task builder) and pushes results into a downstream fan-out.
//!
//! * [`aggregate`]: count / reduce / aggregate per key.
//! * [`time_window`]: tumbling and hopping window aggregation, emit-on-update or emit-final.
//! * [`sliding_window`]: sliding window aggregation.
//! * [`session_window`]: session window aggregation with merging.
//! * [`join`]: stream-stream (windowed), stream-table and table-table joins.
//! * [`fk_join`]: foreign-key table-table join through subscription topics.

pub mod aggregate;
pub mod fk_join;
pub mod join;
pub mod session_window;
pub mod sliding_window;
pub mod time_window;

use std::sync::Arc;

use bytes::Bytes;

use crate::serde::SerdeRef;
use crate::task::TaskContext;

/// Creates a fresh aggregate.
pub type Init<A> = Arc<dyn Fn() -> A + Send + Sync>;
/// Folds a value into an aggregate.
pub type Adder<K, V, A> = Arc<dyn Fn(&K, V, A) -> A + Send + Sync>;
/// Combines two aggregates (session merging).
pub type Merger<K, A> = Arc<dyn Fn(&K, A, A) -> A + Send + Sync>;
/// Joins a left value with an optional right value (stream-table and foreign-key joins).
pub type ValueJoiner<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>;
/// Joins two optional values (table-table joins), already oriented.
pub type OptionJoiner<VThis, VOther, VR> =
    Arc<dyn Fn(Option<&VThis>, Option<&VOther>) -> Option<VR> + Send + Sync>;
/// A predicate over key and value.
pub type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;
/// A callback over key and value.
pub type Visitor<K, V> = Arc<dyn Fn(&K, &V) + Send + Sync>;
/// Maps a table row's value (or its absence) to a new one.
pub type ChangeMapper<K, V, V2> = Arc<dyn Fn(&K, Option<V>) -> Option<V2> + Send + Sync>;

/// Serializes a key for store access; `None` (skip the record) for null or unserializable keys.
pub(crate) fn key_bytes<K: 'static>(
    serde: &SerdeRef<K>,
    key: &K,
    ctx: &mut TaskContext,
    op: &str,
) -> Option<Bytes> {
    match serde.serialize(key) {
        Ok(Some(b)) => Some(b),
        Ok(None) => {
            ctx.skip(op, "record with a null key cannot be aggregated or joined");
            None
        }
        Err(e) => {
            ctx.skip(op, format!("cannot serialize key: {e}"));
            None
        }
    }
}

/// Decodes a stored value; a value that no longer decodes is treated as absent (and logged).
pub(crate) fn decode<T: 'static>(
    serde: &SerdeRef<T>,
    bytes: Option<Bytes>,
    ctx: &mut TaskContext,
    op: &str,
) -> Option<T> {
    let b = bytes?;
    match serde.deserialize(Some(&b)) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.skip(op, format!("stored value does not decode: {e}"));
            None
        }
    }
}

/// Encodes a value for a store.
pub(crate) fn encode<T: 'static>(
    serde: &SerdeRef<T>,
    value: &T,
    ctx: &mut TaskContext,
    op: &str,
) -> Option<Bytes> {
    match serde.serialize(value) {
        Ok(Some(b)) => Some(b),
        Ok(None) => Some(Bytes::new()),
        Err(e) => {
            ctx.skip(op, format!("cannot serialize value: {e}"));
            None
        }
    }
}
