//! Row keys and the per-key state of a change stream.
//!
//! **The record key** of a change is the row's key document
//! ([`brook_streams::key_document`]: the primary-key columns as a JSON object, names in lower
//! case and ascending order): `{"id":1001}`, `{"line":2,"order_id":7}`. One canonical form
//! means the same row always gets the same key bytes — whether the columns came from a
//! Debezium key document, from the configured `key` column list or from a SQL query that
//! re-keys a change table — and therefore the same partition and compacted-topic slot.
//!
//! **[`KeyStates`]** remembers, per key, the newest database position applied and whether the
//! row currently exists. It drops replayed events ([`SourcePosition::is_at_or_before`]), tells
//! an insert from an update in the flattened form, and lists the rows a truncate deletes. It is
//! a pure function of the records written so far, so it can be rebuilt from the topic after a
//! restart (see [`crate::checkpoint`]).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::position::SourcePosition;
use crate::error::DecodeError;

/// The canonical key of a row: its `columns`, taken from `row`.
pub fn key_from_row(row: &Map<String, Value>, columns: &[String]) -> Result<Bytes, DecodeError> {
    let mut fields = Vec::with_capacity(columns.len());
    for c in columns {
        match row.get(c) {
            Some(v) => fields.push((c.as_str(), v)),
            None => {
                return Err(DecodeError::new(format!(
                    "key column '{c}' is missing from the row (columns present: {})",
                    row.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    Ok(canonical(fields))
}

/// The canonical key of a row from its `columns`' values, found without the rest of the row
/// (`values[i]` belongs to `columns[i]`).
pub fn key_from_values(columns: &[String], values: &[Value]) -> Bytes {
    canonical(columns.iter().map(String::as_str).zip(values).collect())
}

/// The canonical form of a key document (a Debezium key payload).
pub fn key_from_document(doc: &Map<String, Value>) -> Bytes {
    canonical(doc.iter().map(|(k, v)| (k.as_str(), v)).collect())
}

fn canonical(fields: Vec<(&str, &Value)>) -> Bytes {
    // Serializing a JSON value into a Vec cannot fail.
    let fields: Vec<(&str, Vec<u8>)> =
        fields.into_iter().map(|(n, v)| (n, serde_json::to_vec(v).unwrap_or_default())).collect();
    brook_streams::key_document::encode(&fields)
}

/// What is known about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The newest database position applied to this key, if events carried one.
    pub position: Option<SourcePosition>,
    /// Whether the row exists (the last record was not a delete).
    pub live: bool,
}

/// Per-key state of a change stream, and the identities of the events written without a key.
#[derive(Debug, Default)]
pub struct KeyStates {
    keys: HashMap<Bytes, KeyState>,
    /// [`Change::identity`](super::event::Change::identity) of every key-less event written.
    key_less: HashSet<u128>,
}

impl KeyStates {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an event at `position` for `key` was already applied (a replay).
    pub fn is_replay(&self, key: &[u8], position: Option<&SourcePosition>) -> bool {
        match (position, self.keys.get(key).and_then(|s| s.position.as_ref())) {
            (Some(p), Some(seen)) => p.is_at_or_before(seen),
            _ => false,
        }
    }

    /// Whether the row with `key` exists.
    pub fn is_live(&self, key: &[u8]) -> bool {
        self.keys.get(key).is_some_and(|s| s.live)
    }

    /// Records that a record for `key` was written: an upsert (`live`) or a delete.
    pub fn apply(&mut self, key: &Bytes, position: Option<&SourcePosition>, live: bool) {
        match self.keys.get_mut(key.as_ref()) {
            Some(s) => {
                if let Some(p) = position {
                    s.position = Some(p.clone());
                }
                s.live = live;
            }
            None => {
                self.keys.insert(key.clone(), KeyState { position: position.cloned(), live });
            }
        }
    }

    /// Records that a key-less event with this identity was written; returns `false` if one
    /// already was (a redelivery, or a repeated snapshot row).
    pub fn apply_key_less(&mut self, identity: u128) -> bool {
        self.key_less.insert(identity)
    }

    /// Keys of all existing rows, sorted (a truncate deletes them in this order).
    pub fn live_keys(&self) -> Vec<Bytes> {
        let mut keys: Vec<Bytes> = self.keys.iter().filter(|(_, s)| s.live).map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    }

    /// Number of keys known.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_canonical_whatever_their_origin() {
        let row = json!({"order_id": 7, "line": 2, "qty": 1});
        let row = row.as_object().unwrap();
        let from_row = key_from_row(row, &["order_id".into(), "line".into()]).unwrap();
        assert_eq!(&from_row[..], br#"{"line":2,"order_id":7}"#);
        let doc = json!({"order_id": 7, "line": 2});
        assert_eq!(key_from_document(doc.as_object().unwrap()), from_row);
        let err = key_from_row(row, &["id".into()]).unwrap_err();
        assert!(err.0.contains("key column 'id' is missing"), "{err}");
        let s = json!({"name": "a\"b"});
        assert_eq!(&key_from_document(s.as_object().unwrap())[..], br#"{"name":"a\"b"}"#);
    }

    #[test]
    fn replays_and_liveness() {
        let mut st = KeyStates::new();
        let k = Bytes::from_static(b"{\"id\":1}");
        let p = |lsn| SourcePosition::Postgres { lsn };
        assert!(!st.is_replay(&k, Some(&p(10))));
        st.apply(&k, Some(&p(10)), true);
        assert!(st.is_replay(&k, Some(&p(10))));
        assert!(st.is_replay(&k, Some(&p(9))));
        assert!(!st.is_replay(&k, Some(&p(11))));
        assert!(!st.is_replay(&k, None));
        assert_eq!(st.live_keys(), vec![k.clone()]);
        st.apply(&k, None, false);
        assert!(!st.is_live(&k));
        assert!(st.is_replay(&k, Some(&p(10))), "a position survives an event without one");
        assert!(st.live_keys().is_empty());
    }
}
