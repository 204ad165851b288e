//! `DEBEZIUM_JSON`: Debezium change events as values, read as the rows they change.
//!
//! A change event is a JSON envelope `{"before": row, "after": row, "op": "c|r|u|d|t|m",
//! "source": …, "ts_ms": …}`, optionally wrapped as `{"schema": …, "payload": envelope}`
//! (Kafka Connect's JSON converter with schemas enabled). Brook's own connector
//! (`CREATE SOURCE CONNECTOR … 'format'='debezium_json'`) writes the unwrapped envelope,
//! keyed by the row's key document (`{"id":1001}`). [`read_change`] finds what an event means
//! without decoding the rows: it only locates the `after` object in the payload, which the
//! JSON decoder then reads as the row — so a row is decoded once, straight from the record.
//!
//! | event | TABLE | STREAM |
//! |---|---|---|
//! | `op` = `c`, `r`, `u` | the row from `after` replaces the key's row | the row from `after` |
//! | `op` = `d` | the key's row is deleted | nothing |
//! | tombstone (null value) | the key's row is deleted | nothing |
//! | `op` = `t` (truncate) | nothing (logged: the event names no rows) | nothing |
//! | `op` = `m` (message) | nothing | nothing |
//!
//! A stream over a change topic therefore holds the successive states of rows (like a stream
//! over the output of Debezium's `ExtractNewRecordState` with deletes dropped, ksqlDB's usual
//! setup); a table holds the current rows. The flattened form that transform produces (the
//! row itself, with `__op` and `__deleted` fields) is read too.
//!
//! Keys are the key document: a JSON object of the primary-key columns, field names matched
//! case-insensitively. An event without a record key (a value-only dump) is keyed by the
//! source's declared key columns read from its rows ([`keyed_by_rows`]: `after` for c/r/u,
//! `before` for d), in the key document form Brook's connector writes ([`row_key`]). When a key must be written (repartitioning a join's other side to a
//! change table's partitions) it is written as Brook's connector writes it: lower-case names
//! in ascending order, no whitespace. Values cannot be written in this format: queries over
//! change tables write JSON.

use bytes::Bytes;

use crate::limits::{NestingLimits, json_deeper_than};

/// What one change event does to the rows of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// The row after the change (a JSON object, as bytes of the payload), and the row before it
    /// when the event carries one (an update's old image).
    Upsert {
        /// The row after the change.
        after: &'a [u8],
        /// The row before the change, if the event has one.
        before: Option<&'a [u8]>,
    },
    /// The row was deleted; `before` is the deleted row when the event carries it.
    Delete {
        /// The row before the delete, if the event has one.
        before: Option<&'a [u8]>,
    },
    /// The event changes no row; the reason is worth logging for a table (`None`: expected,
    /// e.g. a logical-decoding message).
    Skip(Option<&'static str>),
}

/// Reads a change event (see the [module docs](self)). An event nested deeper than
/// [`NestingLimits::json`] is an error, as a JSON value would be, even where only parts the
/// row decoder never reads (`source`, a wrapper's `schema`) are that deep.
pub fn read_change(payload: &[u8]) -> Result<Change<'_>, String> {
    let limit = NestingLimits::current().json;
    if json_deeper_than(payload, limit) {
        return Err(format!(
            "cannot deserialize JSON: nested more than {limit} levels deep (json.max.nesting.depth)"
        ));
    }
    read_envelope(payload)
}

fn read_envelope(payload: &[u8]) -> Result<Change<'_>, String> {
    let fields = top_level(payload)?;
    let get = |name: &str| fields.iter().find(|(k, _)| *k == name.as_bytes()).map(|(_, v)| *v);
    let has_op = get("op").is_some();
    if let Some(inner) = get("payload")
        && (!has_op || get("schema").is_some())
    {
        if inner == b"null" {
            return Ok(Change::Delete { before: None });
        }
        return read_envelope(inner).map_err(|e| format!("in 'payload': {e}"));
    }
    let Some(op) = get("op") else {
        // The flattened form of ExtractNewRecordState: the row itself.
        if get("__op").is_some() || get("__deleted").is_some() {
            let deleted = matches!(get("__deleted"), Some(b"true" | b"\"true\""))
                || get("__op") == Some(b"\"d\"".as_slice());
            let row = payload.trim_ascii();
            return Ok(if deleted {
                Change::Delete { before: Some(row) }
            } else {
                Change::Upsert { after: row, before: None }
            });
        }
        return Err("not a Debezium change event: it has no 'op' field (a topic of plain rows needs \
                    VALUE_FORMAT='JSON')"
            .into());
    };
    let row = |name: &str| get(name).filter(|v| *v != b"null");
    match op {
        b"\"c\"" | b"\"r\"" | b"\"u\"" => match row("after") {
            Some(after) if after.first() == Some(&b'{') => {
                Ok(Change::Upsert { after, before: row("before").filter(|b| b.first() == Some(&b'{')) })
            }
            Some(_) => Err("'after' is not a JSON object".into()),
            None => Err(format!("op {} without an 'after' row", String::from_utf8_lossy(op))),
        },
        b"\"d\"" => Ok(Change::Delete { before: row("before").filter(|b| b.first() == Some(&b'{')) }),
        b"\"t\"" => Ok(Change::Skip(Some(
            "a truncate event names no rows, so no row was deleted (brook connect's Debezium source \
             writes a tombstone for every row instead)",
        ))),
        b"\"m\"" => Ok(Change::Skip(None)),
        other => Err(format!(
            "unknown op {} (Debezium ops are c, r, u, d, t and m)",
            String::from_utf8_lossy(other)
        )),
    }
}

/// The rows a change event without a record key changes, keyed by the source's declared key
/// `columns` read from the rows themselves: `after` for `c`/`r`/`u`, `before` for `d`. Each
/// entry is (key document, `Some(row)` for an upsert or `None` for a delete). An update whose
/// key changed (its `before` row has other key values) deletes the old key first, so a
/// primary-key change applies whether it arrives as one `u` or as a `d` plus a `c`.
pub fn keyed_by_rows<'a>(change: &Change<'a>, columns: &[String]) -> Result<Vec<KeyedRow<'a>>, String> {
    match *change {
        Change::Upsert { after, before } => {
            let key = row_key(after, columns).map_err(|e| format!("in 'after': {e}"))?;
            let old = before.and_then(|b| row_key(b, columns).ok()).filter(|old| *old != key);
            Ok(old.map(|old| (old, None)).into_iter().chain([(key, Some(after))]).collect())
        }
        Change::Delete { before: Some(before) } => {
            Ok(vec![(row_key(before, columns).map_err(|e| format!("in 'before': {e}"))?, None)])
        }
        Change::Delete { before: None } => Err("a delete without a record key and without a 'before' row: \
                                                 cannot tell which row to delete (capture deletes with the full \
                                                 row, e.g. Postgres REPLICA IDENTITY FULL)"
            .into()),
        Change::Skip(_) => Ok(Vec::new()),
    }
}

/// Checks that a change event's record key names the row the event changes: the declared key
/// `columns` of its `after` row (`before` for a delete) must equal those of the record key
/// (compared as key documents, so field order, name case and a `{"schema","payload"}` wrapper
/// do not matter). Events without such a row, and keys or rows that lack a key column (which
/// the key and value decoders judge), pass.
pub fn check_record_key(key: &[u8], change: &Change<'_>, columns: &[String]) -> Result<(), String> {
    let row = match *change {
        Change::Upsert { after, .. } => after,
        Change::Delete { before: Some(before) } => before,
        Change::Delete { before: None } | Change::Skip(_) => return Ok(()),
    };
    let Ok(from_row) = row_key(row, columns) else { return Ok(()) };
    if from_row.as_ref() == key {
        return Ok(());
    }
    let document = match top_level(key) {
        Ok(fields) => match fields.iter().find(|(k, _)| *k == b"payload") {
            Some((_, payload)) if fields.iter().any(|(k, _)| *k == b"schema") => *payload,
            _ => key,
        },
        Err(_) => return Ok(()),
    };
    match row_key(document, columns) {
        Ok(from_key) if from_key != from_row => Err(format!(
            "the record key {} does not name the row the event changes (its primary key is {})",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(&from_row)
        )),
        _ => Ok(()),
    }
}

/// A row key (a key document) and the row it now has (`None`: deleted).
pub type KeyedRow<'a> = (Bytes, Option<&'a [u8]>);

/// The key document ([`brook_streams::key_document`]) of a row: its `columns`, matched
/// case-insensitively, with values written as `serde_json` writes them — the bytes Brook's
/// connector writes as the record key of the same row.
pub fn row_key(row: &[u8], columns: &[String]) -> Result<Bytes, String> {
    let fields = top_level(row)?;
    let mut doc = Vec::with_capacity(columns.len());
    for c in columns {
        let value = fields.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(c.as_bytes())).map(|(_, v)| *v);
        let value = match value {
            None | Some(b"null") => return Err(format!("the row has no value for the key column {c}")),
            Some(v) => serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("key column {c} is not valid JSON: {e}"))?,
        };
        doc.push((c.as_str(), serde_json::to_vec(&value).unwrap_or_default()));
    }
    Ok(brook_streams::key_document::encode(&doc))
}

/// A field of an object: its name's raw bytes (between the quotes) and its value's bytes.
type FieldSpan<'a> = (&'a [u8], &'a [u8]);

/// The fields of a top-level JSON object.
fn top_level(payload: &[u8]) -> Result<Vec<FieldSpan<'_>>, String> {
    let mut s = Scanner { b: payload, i: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err("a change event must be a JSON object".into());
    }
    s.i += 1;
    let mut fields = Vec::with_capacity(8);
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            s.ws();
            let key = s.string()?;
            s.ws();
            if s.peek() != Some(b':') {
                return Err(s.error("':'"));
            }
            s.i += 1;
            s.ws();
            let value = s.value()?;
            fields.push((key, value));
            s.ws();
            match s.peek() {
                Some(b',') => s.i += 1,
                Some(b'}') => {
                    s.i += 1;
                    break;
                }
                _ => return Err(s.error("',' or '}'")),
            }
        }
    }
    s.ws();
    if s.i != payload.len() {
        return Err(s.error("the end of the event"));
    }
    Ok(fields)
}

/// Finds value boundaries without decoding values (strings keep their escapes).
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn error(&self, expected: &str) -> String {
        match self.peek() {
            Some(c) => {
                format!("malformed JSON: expected {expected} at byte {}, found '{}'", self.i, c as char)
            }
            None => format!("malformed JSON: expected {expected}, found the end of the value"),
        }
    }

    /// A string; returns the bytes between the quotes.
    fn string(&mut self) -> Result<&'a [u8], String> {
        if self.peek() != Some(b'"') {
            return Err(self.error("a string"));
        }
        let start = self.i + 1;
        let mut j = start;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' => j += 2,
                b'"' => {
                    self.i = j + 1;
                    return Ok(&self.b[start..j]);
                }
                _ => j += 1,
            }
        }
        self.i = self.b.len();
        Err(self.error("the end of a string"))
    }

    /// Any value; returns its bytes.
    fn value(&mut self) -> Result<&'a [u8], String> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                self.string()?;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(self.error("the end of an object or array")),
                    }
                    self.i += 1;
                }
            }
            Some(c) if c == b'-' || c.is_ascii_alphanumeric() => {
                while self
                    .peek()
                    .is_some_and(|c| c == b'-' || c == b'+' || c == b'.' || c.is_ascii_alphanumeric())
                {
                    self.i += 1;
                }
            }
            _ => return Err(self.error("a value")),
        }
        Ok(&self.b[start..self.i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(p: &str) -> String {
        match read_change(p.as_bytes()) {
            Ok(Change::Upsert { after, .. }) => String::from_utf8(after.to_vec()).unwrap(),
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn envelopes() {
        let c = r#"{"before":null,"after":{"id":1,"name":"a \"q\" }"},"source":{"lsn":[1,{"x":"}"}]},"op":"c","ts_ms":5}"#;
        assert_eq!(upsert(c), r#"{"id":1,"name":"a \"q\" }"}"#);
        assert_eq!(upsert(r#" { "op" : "u", "after" : { "id" : 2 } } "#), r#"{ "id" : 2 }"#);
        assert_eq!(upsert(r#"{"op":"r","after":{}}"#), "{}");
        assert_eq!(
            read_change(br#"{"before":{"id":1},"after":null,"op":"d"}"#),
            Ok(Change::Delete { before: Some(br#"{"id":1}"#.as_slice()) })
        );
        assert!(matches!(read_change(br#"{"op":"t"}"#), Ok(Change::Skip(Some(_)))));
        assert_eq!(read_change(br#"{"op":"m"}"#), Ok(Change::Skip(None)));
    }

    #[test]
    fn wrapped_and_flattened_forms() {
        let w =
            r#"{"schema":{"type":"struct","fields":[{"field":"op"}]},"payload":{"op":"c","after":{"id":3}}}"#;
        assert_eq!(upsert(w), r#"{"id":3}"#);
        assert_eq!(read_change(br#"{"schema":{},"payload":null}"#), Ok(Change::Delete { before: None }));
        assert_eq!(
            upsert(r#"{"id":4,"__op":"u","__deleted":"false"}"#),
            r#"{"id":4,"__op":"u","__deleted":"false"}"#
        );
        let del = |p: &'static str| read_change(p.as_bytes());
        assert_eq!(
            del(r#"{"id":4,"__deleted":"true"}"#),
            Ok(Change::Delete { before: Some(br#"{"id":4,"__deleted":"true"}"#.as_slice()) })
        );
        assert!(matches!(del(r#"{"id":4,"__op":"d"}"#), Ok(Change::Delete { before: Some(_) })));
    }

    fn keyed(p: &str, columns: &[&str]) -> Result<Vec<(String, Option<String>)>, String> {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let change = read_change(p.as_bytes())?;
        Ok(keyed_by_rows(&change, &columns)?
            .into_iter()
            .map(|(k, row)| {
                (String::from_utf8(k.to_vec()).unwrap(), row.map(|r| String::from_utf8(r.to_vec()).unwrap()))
            })
            .collect())
    }

    #[test]
    fn key_less_events_are_keyed_by_their_rows() {
        let c = r#"{"before":null,"after":{"ORDER_ID":7,"line":2,"qty":1.0},"op":"c"}"#;
        assert_eq!(
            keyed(c, &["order_id", "LINE"]),
            Ok(vec![(
                r#"{"line":2,"order_id":7}"#.into(),
                Some(r#"{"ORDER_ID":7,"line":2,"qty":1.0}"#.into())
            )])
        );
        let d = r#"{"before":{"id":"a\u0062"},"after":null,"op":"d"}"#;
        assert_eq!(keyed(d, &["ID"]), Ok(vec![(r#"{"id":"ab"}"#.into(), None)]));
        // An update that changed the key deletes the old key, then writes the new one.
        let u = r#"{"before":{"id":1,"n":"x"},"after":{"id":2,"n":"x"},"op":"u"}"#;
        assert_eq!(
            keyed(u, &["id"]),
            Ok(vec![
                (r#"{"id":1}"#.into(), None),
                (r#"{"id":2}"#.into(), Some(r#"{"id":2,"n":"x"}"#.into()))
            ])
        );
        let same = r#"{"before":{"id":2,"n":"x"},"after":{"id":2,"n":"y"},"op":"u"}"#;
        assert_eq!(keyed(same, &["id"]).unwrap().len(), 1);
        assert_eq!(keyed(r#"{"op":"m"}"#, &["id"]), Ok(vec![]));
        assert!(
            keyed(r#"{"op":"c","after":{"x":1}}"#, &["id"])
                .unwrap_err()
                .contains("no value for the key column id")
        );
        assert!(keyed(r#"{"op":"c","after":{"id":null}}"#, &["id"]).unwrap_err().contains("no value"));
        assert!(keyed(r#"{"op":"d","before":null}"#, &["id"]).unwrap_err().contains("cannot tell which row"));
    }

    #[test]
    fn record_keys_must_name_the_changed_row() {
        let cols = vec!["id".to_string()];
        let check =
            |key: &str, event: &str| check_record_key(key.as_bytes(), &read_change(event.as_bytes())?, &cols);
        let c = r#"{"op":"c","after":{"ID":7,"name":"a"}}"#;
        assert_eq!(check(r#"{"id":7}"#, c), Ok(()));
        assert_eq!(check(r#"{ "ID" : 7 }"#, c), Ok(()));
        assert_eq!(check(r#"{"schema":{"type":"struct"},"payload":{"id":7}}"#, c), Ok(()));
        let err = check(r#"{"id":8}"#, c).unwrap_err();
        assert!(
            err.contains(r#"the record key {"id":8} does not name the row"#) && err.contains(r#"{"id":7}"#),
            "{err}"
        );
        let d = r#"{"op":"d","before":{"id":3},"after":null}"#;
        assert!(check(r#"{"id":4}"#, d).is_err());
        assert_eq!(check(r#"{"id":3}"#, d), Ok(()));
        // Nothing to compare: no before row, a key without the column, a key that is not JSON.
        assert_eq!(check(r#"{"id":4}"#, r#"{"op":"d","before":null}"#), Ok(()));
        assert_eq!(check(r#"{"other":4}"#, c), Ok(()));
        assert_eq!(check("7", c), Ok(()));
    }

    #[test]
    fn malformed_events_say_why() {
        let err = |p: &str| read_change(p.as_bytes()).unwrap_err();
        assert!(err(r#"{"id":1}"#).contains("VALUE_FORMAT='JSON'"));
        assert!(err(r#"{"op":"c","after":null}"#).contains("without an 'after' row"));
        assert!(err(r#"{"op":"x","after":{}}"#).contains("unknown op"));
        assert!(err(r#"{"op":"c","after":{"id":1}"#).contains("malformed JSON"));
        assert!(err(r#"{"op":"c","after":{"id":1}} x"#).contains("the end of the event"));
        assert!(err(r#"[1]"#).contains("must be a JSON object"));
        assert!(err(r#"{"op":"c","after":[1]}"#).contains("not a JSON object"));
        assert!(err(r#"{"op":"c","after":{"a":"unterminated}}"#).contains("malformed JSON"));
        assert!(err("").contains("must be a JSON object"));
    }
}
