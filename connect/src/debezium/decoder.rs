//! [`CdcDecoder`]: turns change-event lines into keyed records for a table topic.
//!
//! ```text
//!  line ──parse_line──► Change ──key──► replay? ──► records
//!                                        │            c/r/u  → (key, envelope)
//!                                        │            d      → (key, delete marker) + (key, null)
//!                                        │            u with a new key → d(old key) + tombstone + c(new key)
//!                                        │            t      → (key, null) for every existing row
//!                                        ▼
//!                                   KeyStates (newest position, row exists?)
//! ```
//!
//! **Which columns form the key.** The configured `key` column list if there is one (columns
//! are taken from `after`, or from `before` for deletes); otherwise the line's key document
//! (record form). A line with neither (a value-only dump, as Kafka Connect's JsonConverter or a
//! Debezium Server file sink writes them) is passed on **without a key**: a `DEBEZIUM_JSON`
//! table keys it by its declared primary key when it reads it. Such events cannot be split into
//! delete + create on a key change here (the reading table does that), and the source keeps
//! their order by writing them all to one partition. A redelivered one — the same database
//! position, op and rows ([`Change::identity`]), as after a connector failover or a repeated
//! snapshot — is dropped.
//!
//! **Values.** Every value is a Debezium envelope in payload form (`before`, `after`, `source`,
//! `op`, `ts_ms`), whatever form the input used, so consumers handle one format. A line that
//! already is such an envelope is written byte for byte (no re-encoding).

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Op;
use super::event::{Change, Line, parse_line};
use super::keys::{KeyStates, key_from_document, key_from_row};
use super::position::SourcePosition;
use crate::error::DecodeError;

/// A record to write for a change.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcRecord {
    /// The row's canonical key (`None`: the event has no key and no key columns are known).
    pub key: Option<Bytes>,
    /// The change (a Debezium envelope), or `None` for a tombstone.
    pub value: Option<Bytes>,
    /// Event time, if the event had one.
    pub timestamp: Option<i64>,
    /// The event's database position.
    pub position: Option<SourcePosition>,
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    /// Records were produced (possibly none, for a truncate of an empty table).
    Emitted,
    /// An empty line, `null`, or a keyless tombstone: nothing to do.
    Blank,
    /// A tombstone for a row already deleted (the delete produced its tombstone).
    TombstoneConsumed,
    /// A replayed event (its position was already applied to its key).
    Duplicate,
    /// An event that does not change rows (`op = m`, a logical-decoding message).
    Ignored,
}

/// Decodes change events into records, remembering per-key state.
#[derive(Debug, Default)]
pub struct CdcDecoder {
    key_columns: Option<Vec<String>>,
    keys: KeyStates,
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    before: Option<&'a Map<String, Value>>,
    after: Option<&'a Map<String, Value>>,
    source: Option<&'a Map<String, Value>>,
    op: &'static str,
    ts_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<&'a Value>,
}

impl CdcDecoder {
    /// A decoder; `key_columns` names the primary-key columns (`None`: use key documents).
    pub fn new(key_columns: Option<Vec<String>>) -> Self {
        CdcDecoder { key_columns: key_columns.filter(|c| !c.is_empty()), keys: KeyStates::new() }
    }

    /// The per-key state (to rebuild it after a restart, or to inspect it).
    pub fn keys_mut(&mut self) -> &mut KeyStates {
        &mut self.keys
    }

    /// Decodes one line; `line` is the line's bytes without its terminator. Records are
    /// appended to `out`, and the per-key state is updated as if they were written.
    pub fn decode(&mut self, line: &Bytes, out: &mut Vec<CdcRecord>) -> Result<LineOutcome, DecodeError> {
        match parse_line(line)? {
            Line::Blank => Ok(LineOutcome::Blank),
            Line::Tombstone { key } => {
                let key = match &self.key_columns {
                    Some(cols) => key_from_row(&key, cols)?,
                    None => key_from_document(&key),
                };
                if !self.keys.is_live(&key) {
                    return Ok(LineOutcome::TombstoneConsumed);
                }
                self.keys.apply(&key, None, false);
                out.push(CdcRecord { key: Some(key), value: None, timestamp: None, position: None });
                Ok(LineOutcome::Emitted)
            }
            Line::Change(c) => self.change(*c, line, out),
        }
    }

    fn change(
        &mut self,
        c: Change,
        line: &Bytes,
        out: &mut Vec<CdcRecord>,
    ) -> Result<LineOutcome, DecodeError> {
        let time = c.event_time();
        let pos = c.position.clone();
        match c.op {
            Op::Message => Ok(LineOutcome::Ignored),
            Op::Truncate => {
                for key in self.keys.live_keys() {
                    self.keys.apply(&key, pos.as_ref(), false);
                    out.push(CdcRecord {
                        key: Some(key),
                        value: None,
                        timestamp: time,
                        position: pos.clone(),
                    });
                }
                if self.key_columns.is_none() {
                    // Rows without keys are not tracked here: pass the truncate on to the reader.
                    let value = self.value(&c, Op::Truncate, None, None, line)?;
                    out.push(CdcRecord { key: None, value: Some(value), timestamp: time, position: pos });
                }
                Ok(LineOutcome::Emitted)
            }
            Op::Delete => {
                let marker = |d: &Self| d.value(&c, Op::Delete, c.before.as_ref(), None, line);
                let Some(key) = self.delete_key(&c)? else {
                    if self.is_key_less_replay(&c) {
                        return Ok(LineOutcome::Duplicate);
                    }
                    out.push(CdcRecord {
                        key: None,
                        value: Some(marker(&*self)?),
                        timestamp: time,
                        position: pos,
                    });
                    return Ok(LineOutcome::Emitted);
                };
                if self.keys.is_replay(&key, pos.as_ref()) {
                    return Ok(LineOutcome::Duplicate);
                }
                let marker = marker(&*self)?;
                self.push_delete(key, marker, time, pos, out);
                Ok(LineOutcome::Emitted)
            }
            Op::Create | Op::Read | Op::Update => {
                let after = c.after.as_ref().ok_or_else(|| {
                    DecodeError::new(format!("op '{}' without an 'after' row", c.op.code()))
                })?;
                let Some(new_key) = self.row_key(after, c.key.as_ref())? else {
                    if self.is_key_less_replay(&c) {
                        return Ok(LineOutcome::Duplicate);
                    }
                    let value = self.value(&c, c.op, c.before.as_ref(), Some(after), line)?;
                    out.push(CdcRecord { key: None, value: Some(value), timestamp: time, position: pos });
                    return Ok(LineOutcome::Emitted);
                };
                let old_key = match (&c.before, c.op) {
                    (Some(before), Op::Update) => self.before_key(before, c.key.as_ref()),
                    _ => None,
                };
                match old_key {
                    Some(old) if old != new_key => self.key_change(&c, old, new_key, after, line, out),
                    _ => {
                        if self.keys.is_replay(&new_key, pos.as_ref()) {
                            return Ok(LineOutcome::Duplicate);
                        }
                        let op = if c.op_inferred {
                            if self.keys.is_live(&new_key) { Op::Update } else { Op::Create }
                        } else {
                            c.op
                        };
                        let value = self.value(&c, op, c.before.as_ref(), Some(after), line)?;
                        self.keys.apply(&new_key, pos.as_ref(), true);
                        out.push(CdcRecord {
                            key: Some(new_key),
                            value: Some(value),
                            timestamp: time,
                            position: pos,
                        });
                        Ok(LineOutcome::Emitted)
                    }
                }
            }
        }
    }

    /// Whether a change without a key was already written (same identity); remembers it if not.
    fn is_key_less_replay(&mut self, c: &Change) -> bool {
        c.identity().is_some_and(|id| !self.keys.apply_key_less(id))
    }

    /// An update that changed the primary key: a delete of the old row and a create of the new.
    fn key_change(
        &mut self,
        c: &Change,
        old: Bytes,
        new: Bytes,
        after: &Map<String, Value>,
        line: &Bytes,
        out: &mut Vec<CdcRecord>,
    ) -> Result<LineOutcome, DecodeError> {
        let (time, pos) = (c.event_time(), c.position.clone());
        let old_replayed = self.keys.is_replay(&old, pos.as_ref());
        let new_replayed = self.keys.is_replay(&new, pos.as_ref());
        if old_replayed && new_replayed {
            return Ok(LineOutcome::Duplicate);
        }
        if !old_replayed {
            let marker = self.value(c, Op::Delete, c.before.as_ref(), None, line)?;
            self.push_delete(old, marker, time, pos.clone(), out);
        }
        if !new_replayed {
            let value = self.value(c, Op::Create, None, Some(after), line)?;
            self.keys.apply(&new, pos.as_ref(), true);
            out.push(CdcRecord { key: Some(new), value: Some(value), timestamp: time, position: pos });
        }
        Ok(LineOutcome::Emitted)
    }

    fn push_delete(
        &mut self,
        key: Bytes,
        marker: Bytes,
        time: Option<i64>,
        pos: Option<SourcePosition>,
        out: &mut Vec<CdcRecord>,
    ) {
        self.keys.apply(&key, pos.as_ref(), false);
        out.push(CdcRecord {
            key: Some(key.clone()),
            value: Some(marker),
            timestamp: time,
            position: pos.clone(),
        });
        out.push(CdcRecord { key: Some(key), value: None, timestamp: time, position: pos });
    }

    /// The key of a row after the change (`None`: neither key columns nor a key document).
    fn row_key(
        &self,
        row: &Map<String, Value>,
        doc: Option<&Map<String, Value>>,
    ) -> Result<Option<Bytes>, DecodeError> {
        match (&self.key_columns, doc) {
            (Some(cols), _) => key_from_row(row, cols).map(Some),
            (None, Some(doc)) => Ok(Some(key_from_document(doc))),
            (None, None) => Ok(None),
        }
    }

    /// The key of the row before an update, when it can be computed.
    fn before_key(&self, before: &Map<String, Value>, doc: Option<&Map<String, Value>>) -> Option<Bytes> {
        match (&self.key_columns, doc) {
            (Some(cols), _) => key_from_row(before, cols).ok(),
            (None, Some(doc)) => {
                let cols: Vec<String> = doc.keys().cloned().collect();
                key_from_row(before, &cols).ok()
            }
            (None, None) => None,
        }
    }

    /// The key of a deleted row: from `before`, else from the key document (`None`: neither
    /// key columns nor a key document).
    fn delete_key(&self, c: &Change) -> Result<Option<Bytes>, DecodeError> {
        match (&self.key_columns, &c.before, &c.key) {
            (Some(cols), Some(before), _) => key_from_row(before, cols).map(Some),
            (Some(cols), None, Some(doc)) => key_from_row(doc, cols).map(Some),
            (None, _, Some(doc)) => Ok(Some(key_from_document(doc))),
            (Some(_), None, None) => Err(DecodeError::new(
                "delete event without a 'before' row or a key document: cannot tell which row to delete \
                 (capture deletes with the full row, e.g. Postgres REPLICA IDENTITY FULL, or dump the record key)",
            )),
            (None, _, None) => Ok(None),
        }
    }

    /// The record value: the line itself when it already is the envelope, else a new envelope.
    fn value(
        &self,
        c: &Change,
        op: Op,
        before: Option<&Map<String, Value>>,
        after: Option<&Map<String, Value>>,
        line: &Bytes,
    ) -> Result<Bytes, DecodeError> {
        let unchanged = c.line_is_envelope
            && op == c.op
            && before == c.before.as_ref()
            && after == c.after.as_ref()
            && !line.contains(&b'\n');
        if unchanged {
            return Ok(trim(line));
        }
        let env = EnvelopeOut {
            before,
            after,
            source: c.source.as_ref(),
            op: op.code(),
            ts_ms: c.ts_ms,
            transaction: c.transaction.as_ref(),
        };
        serde_json::to_vec(&env)
            .map(Bytes::from)
            .map_err(|e| DecodeError::new(format!("cannot encode the change event: {e}")))
    }
}

/// The line without surrounding whitespace (shares the line's buffer).
fn trim(line: &Bytes) -> Bytes {
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    line.slice(start..end.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(d: &mut CdcDecoder, line: &str) -> (LineOutcome, Vec<(String, Option<String>)>) {
        let mut out = Vec::new();
        let outcome = d.decode(&Bytes::copy_from_slice(line.as_bytes()), &mut out).unwrap();
        let recs = out
            .into_iter()
            .map(|r| {
                let v = r.value.map(|v| {
                    let j: Value = serde_json::from_slice(&v).unwrap();
                    format!(
                        "{}:{}",
                        j["op"].as_str().unwrap_or("?"),
                        j["after"].get("name").unwrap_or(&Value::Null)
                    )
                });
                (r.key.map(|k| String::from_utf8(k.to_vec()).unwrap()).unwrap_or_default(), v)
            })
            .collect();
        (outcome, recs)
    }

    #[test]
    fn envelope_values_are_written_unchanged() {
        let mut d = CdcDecoder::new(Some(vec!["id".into()]));
        let line = Bytes::from_static(br#"  {"before":null,"after":{"id":1,"name":"a"},"op":"c"}  "#);
        let mut out = Vec::new();
        d.decode(&line, &mut out).unwrap();
        assert_eq!(&out[0].value.as_ref().unwrap()[..], line.trim_ascii());
    }

    #[test]
    fn ops_keys_and_replays() {
        let mut d = CdcDecoder::new(Some(vec!["id".into()]));
        let c = r#"{"after":{"id":1,"name":"a"},"op":"c","source":{"lsn":10}}"#;
        assert_eq!(
            decode(&mut d, c),
            (LineOutcome::Emitted, vec![(r#"{"id":1}"#.into(), Some(r#"c:"a""#.into()))])
        );
        assert_eq!(decode(&mut d, c).0, LineOutcome::Duplicate);
        let u = r#"{"before":{"id":1,"name":"a"},"after":{"id":1,"name":"b"},"op":"u","source":{"lsn":11}}"#;
        assert_eq!(decode(&mut d, u).1, vec![(r#"{"id":1}"#.into(), Some(r#"u:"b""#.into()))]);
        // Primary-key change inside an update: delete + tombstone of the old key, create of the new.
        let pk = r#"{"before":{"id":1,"name":"b"},"after":{"id":2,"name":"b"},"op":"u","source":{"lsn":12}}"#;
        assert_eq!(
            decode(&mut d, pk).1,
            vec![
                (r#"{"id":1}"#.into(), Some("d:null".into())),
                (r#"{"id":1}"#.into(), None),
                (r#"{"id":2}"#.into(), Some(r#"c:"b""#.into())),
            ]
        );
        assert_eq!(decode(&mut d, pk).0, LineOutcome::Duplicate);
        assert_eq!(decode(&mut d, "null").0, LineOutcome::Blank);
        let t = r#"{"op":"t","source":{"lsn":13}}"#;
        assert_eq!(decode(&mut d, t).1, vec![(r#"{"id":2}"#.into(), None)]);
        assert_eq!(decode(&mut d, r#"{"op":"m","source":{"lsn":14}}"#).0, LineOutcome::Ignored);
    }

    #[test]
    fn keyed_tombstones_after_deletes_are_consumed() {
        let mut d = CdcDecoder::new(None);
        let c = r#"{"key":{"id":5},"value":{"after":{"id":5,"name":"x"},"op":"r"}}"#;
        decode(&mut d, c);
        let del = r#"{"key":{"id":5},"value":{"before":{"id":5,"name":"x"},"after":null,"op":"d"}}"#;
        assert_eq!(decode(&mut d, del).1.len(), 2);
        assert_eq!(decode(&mut d, r#"{"key":{"id":5},"value":null}"#).0, LineOutcome::TombstoneConsumed);
        // A tombstone for a live row deletes it (the `drop` delete handling of the flattened form).
        decode(&mut d, c);
        assert_eq!(decode(&mut d, r#"{"key":{"id":5},"value":null}"#).1, vec![(r#"{"id":5}"#.into(), None)]);
    }

    #[test]
    fn key_less_events_pass_on_without_a_key() {
        let mut d = CdcDecoder::new(None);
        let c = r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c","source":{"lsn":5}}"#;
        assert_eq!(decode(&mut d, c), (LineOutcome::Emitted, vec![(String::new(), Some(r#"c:"a""#.into()))]));
        // No key: a redelivery (same position, op and rows; another ts_ms) is dropped, and a
        // delete has no tombstone after it (a table keys these events by their rows).
        let again = r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c","source":{"lsn":5},"ts_ms":9}"#;
        assert_eq!(decode(&mut d, again).0, LineOutcome::Duplicate);
        let other_row = r#"{"before":null,"after":{"id":2,"name":"a"},"op":"c","source":{"lsn":5}}"#;
        assert_eq!(decode(&mut d, other_row).0, LineOutcome::Emitted, "snapshot rows share a position");
        let no_position = r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c"}"#;
        assert_eq!(decode(&mut d, no_position).0, LineOutcome::Emitted);
        assert_eq!(decode(&mut d, no_position).0, LineOutcome::Emitted, "without a position, never a replay");
        let del = r#"{"schema":{},"payload":{"before":{"id":1,"name":"a"},"after":null,"op":"d"}}"#;
        assert_eq!(decode(&mut d, del).1, vec![(String::new(), Some("d:null".into()))]);
        let t = r#"{"op":"t","source":{"lsn":6}}"#;
        assert_eq!(decode(&mut d, t).1, vec![(String::new(), Some("t:null".into()))]);
    }

    #[test]
    fn missing_keys_are_reported() {
        let mut out = Vec::new();
        let mut d = CdcDecoder::new(Some(vec!["id".into()]));
        let err =
            d.decode(&Bytes::from_static(br#"{"before":null,"after":null,"op":"d"}"#), &mut out).unwrap_err();
        assert!(err.0.contains("cannot tell which row to delete"), "{err}");
    }
}
