//! Parsing one input line into a change event, whatever form the dump uses.
//!
//! Accepted forms, one JSON document per line:
//!
//! * **Envelope** (Debezium's value payload, `schemas.enable=false`):
//!   `{"before":…,"after":…,"source":{…},"op":"u","ts_ms":…}`.
//! * **Wrapped** (`schemas.enable=true`): `{"schema":{…},"payload":<envelope or null>}`.
//! * **Record** (a dump of the Kafka record, key included): `{"key":<key>,"value":<value>}`,
//!   where key and value may themselves be wrapped, be JSON text inside a string (as `kcat -J`
//!   prints them), or be `null` (a tombstone). Also `KEY<TAB>VALUE`, as
//!   `kafka-console-consumer --property print.key=true` prints records.
//! * **Flattened** (the `ExtractNewRecordState` transform): the row itself, with optional
//!   metadata fields `__op`, `__deleted` (`"true"`/`true` for a delete rewritten as a row),
//!   `__table`, `__lsn`, `__source_ts_ms`, ….
//! * **Tombstone lines**: an empty line or `null` (a tombstone without its key, as dumps write
//!   them after a delete).

use serde_json::{Map, Value};

use super::Op;
use super::position::SourcePosition;
use crate::error::DecodeError;

/// One input line, understood.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// An empty line or `null`: a tombstone without a key.
    Blank,
    /// A record with a key and a null value.
    Tombstone {
        /// The key document.
        key: Map<String, Value>,
    },
    /// A change event.
    Change(Box<Change>),
}

/// A change event in normalized form.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The operation (for the flattened form without `__op`, see `op_inferred`).
    pub op: Op,
    /// Row before the change.
    pub before: Option<Map<String, Value>>,
    /// Row after the change.
    pub after: Option<Map<String, Value>>,
    /// Debezium's `source` block (synthesized from `__` fields for the flattened form).
    pub source: Option<Map<String, Value>>,
    /// When the connector processed the event.
    pub ts_ms: Option<i64>,
    /// Debezium's `transaction` block, if any.
    pub transaction: Option<Value>,
    /// The key document, when the line carried one.
    pub key: Option<Map<String, Value>>,
    /// The event's database position, if it has one.
    pub position: Option<SourcePosition>,
    /// The line is exactly this event in envelope form, so its bytes can be written unchanged.
    pub line_is_envelope: bool,
    /// Flattened form without `__op`: insert or update depends on whether the row exists.
    pub op_inferred: bool,
}

impl Change {
    /// What makes a change the same change when it is delivered again: its database position,
    /// op and row images (not `ts_ms`, which a redelivery changes). Two different changes never
    /// share all of these — snapshot rows share a position but not their rows. `None` without a
    /// position: such an event cannot be told from a new one.
    pub fn identity(&self) -> Option<u128> {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let position = self.position.as_ref()?.encode();
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            position.hash(&mut h);
            self.op.code().hash(&mut h);
            let mut w = HashWriter(&mut h);
            // Writing JSON into a hasher cannot fail.
            let _ = serde_json::to_writer(&mut w, &self.before);
            let _ = serde_json::to_writer(&mut w, &self.after);
            h.finish()
        };
        Some((u128::from(half(0)) << 64) | u128::from(half(1)))
    }

    /// Event time: `source.ts_ms` (when the change happened in the database), else `ts_ms`.
    pub fn event_time(&self) -> Option<i64> {
        self.source.as_ref().and_then(|s| s.get("ts_ms")).and_then(Value::as_i64).or(self.ts_ms)
    }
}

/// Feeds written bytes to a hasher.
struct HashWriter<'a, H>(&'a mut H);

impl<H: std::hash::Hasher> std::io::Write for HashWriter<'_, H> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parses one line (without its line terminator).
pub fn parse_line(line: &[u8]) -> Result<Line, DecodeError> {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Ok(Line::Blank);
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(record) = split_tab_record(line.trim_ascii_start()) {
        return record;
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(v) => classify(v),
        Err(e) => Err(DecodeError::new(format!("not valid JSON: {e}"))),
    }
}

/// `KEY<TAB>VALUE` (an empty value is a null): tried first when a line has a tab, and taken
/// only when both parts are JSON.
fn split_tab_record(text: &[u8]) -> Option<Result<Line, DecodeError>> {
    let tab = text.iter().position(|&b| b == b'\t')?;
    let key: Value = serde_json::from_slice(text[..tab].trim_ascii()).ok()?;
    let value_text = text[tab + 1..].trim_ascii();
    let value: Value =
        if value_text.is_empty() { Value::Null } else { serde_json::from_slice(value_text).ok()? };
    Some(record_form(key, value))
}

fn classify(v: Value) -> Result<Line, DecodeError> {
    match v {
        Value::Null => Ok(Line::Blank),
        Value::Object(mut m) => {
            if is_record_form(&m) {
                let key = m.remove("key").unwrap_or(Value::Null);
                let value = m.remove("value").unwrap_or(Value::Null);
                return record_form(key, value);
            }
            if is_wrapper(&m) {
                return match m.remove("payload") {
                    Some(Value::Object(p)) => change(p, None, false).map(|c| Line::Change(Box::new(c))),
                    Some(Value::Null) | None => Ok(Line::Blank),
                    Some(other) => Err(not_an_object("the payload", &other)),
                };
            }
            change(m, None, true).map(|c| Line::Change(Box::new(c)))
        }
        other => Err(not_an_object("the line", &other)),
    }
}

/// `{"key":…,"value":…}` (with optional Kafka metadata fields), not an event with a column
/// named `value`: no envelope or wrapper field may be present.
fn is_record_form(m: &Map<String, Value>) -> bool {
    const META: [&str; 8] = ["key", "value", "topic", "partition", "offset", "timestamp", "ts", "headers"];
    m.contains_key("value") && m.contains_key("key") && m.keys().all(|k| META.contains(&k.as_str()))
}

/// `{"schema":…,"payload":…}`.
fn is_wrapper(m: &Map<String, Value>) -> bool {
    m.contains_key("payload") && m.keys().all(|k| k == "schema" || k == "payload")
}

fn record_form(key: Value, value: Value) -> Result<Line, DecodeError> {
    let key = match unwrap_document(key, "key")? {
        Value::Null => None,
        Value::Object(k) => Some(k),
        other => return Err(not_an_object("the key", &other)),
    };
    match unwrap_document(value, "value")? {
        Value::Null => match key {
            Some(key) => Ok(Line::Tombstone { key }),
            None => Ok(Line::Blank),
        },
        Value::Object(v) => change(v, key, false).map(|c| Line::Change(Box::new(c))),
        other => Err(not_an_object("the value", &other)),
    }
}

/// Unwraps `{"schema","payload"}` and JSON text inside a string.
fn unwrap_document(v: Value, what: &str) -> Result<Value, DecodeError> {
    let v = match v {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| DecodeError::new(format!("{what} is a string but not JSON text: {e}")))?,
        v => v,
    };
    match v {
        Value::Object(mut m) if is_wrapper(&m) => Ok(m.remove("payload").unwrap_or(Value::Null)),
        v => Ok(v),
    }
}

fn not_an_object(what: &str, v: &Value) -> DecodeError {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    DecodeError::new(format!("{what} must be a JSON object (a change event or a row), found {kind}"))
}

fn row(v: Option<Value>, field: &str) -> Result<Option<Map<String, Value>>, DecodeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(not_an_object(&format!("'{field}'"), &other)),
    }
}

/// A change from an envelope (has `op`) or a flattened row.
fn change(
    mut m: Map<String, Value>,
    key: Option<Map<String, Value>>,
    line_is_value: bool,
) -> Result<Change, DecodeError> {
    if let Some(op) = m.get("op") {
        let code = op
            .as_str()
            .ok_or_else(|| DecodeError::new(format!("'op' must be a string such as \"c\", found {op}")))?;
        let op = Op::from_code(code)
            .ok_or_else(|| DecodeError::new(format!("unknown op '{code}' (expected c, u, d, r, t or m)")))?;
        let before = row(m.remove("before"), "before")?;
        let after = row(m.remove("after"), "after")?;
        let source = match m.remove("source") {
            None | Some(Value::Null) => None,
            Some(Value::Object(s)) => Some(s),
            Some(other) => return Err(not_an_object("'source'", &other)),
        };
        let position = source.as_ref().and_then(SourcePosition::from_source);
        let ts_ms = m.get("ts_ms").and_then(Value::as_i64);
        let transaction = m.remove("transaction").filter(|t| !t.is_null());
        return Ok(Change {
            op,
            before,
            after,
            source,
            ts_ms,
            transaction,
            key,
            position,
            line_is_envelope: line_is_value,
            op_inferred: false,
        });
    }
    flattened(m, key)
}

/// The `ExtractNewRecordState` form: the row plus `__` metadata fields.
fn flattened(m: Map<String, Value>, key: Option<Map<String, Value>>) -> Result<Change, DecodeError> {
    let position = SourcePosition::from_flattened(&m);
    let mut row = Map::new();
    let mut source = Map::new();
    let (mut op, mut deleted, mut ts_ms) = (None, false, None);
    for (name, value) in m {
        let Some(meta) = name.strip_prefix("__") else {
            row.insert(name, value);
            continue;
        };
        match meta {
            "op" => {
                let code = value.as_str().unwrap_or_default();
                op = Some(Op::from_code(code).ok_or_else(|| {
                    DecodeError::new(format!("unknown __op '{value}' (expected c, u, d or r)"))
                })?);
            }
            "deleted" => deleted = matches!(&value, Value::Bool(true)) || value.as_str() == Some("true"),
            "ts_ms" => ts_ms = value.as_i64(),
            _ => {
                let field = meta.strip_prefix("source_").unwrap_or(meta);
                source.insert(field.to_string(), value);
            }
        }
    }
    let op_inferred = op.is_none() && !deleted;
    let op = if deleted { Op::Delete } else { op.unwrap_or(Op::Update) };
    let (before, after) = match op {
        Op::Delete => (Some(row), None),
        Op::Truncate | Op::Message => (None, None),
        _ => (None, Some(row)),
    };
    Ok(Change {
        op,
        before,
        after,
        source: (!source.is_empty()).then_some(source),
        ts_ms,
        transaction: None,
        key,
        position,
        line_is_envelope: false,
        op_inferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn envelope_and_wrapped_forms() {
        let line = br#"{"before":null,"after":{"id":1},"source":{"lsn":5,"ts_ms":7},"op":"c","ts_ms":9}"#;
        let Line::Change(c) = parse_line(line).unwrap() else { panic!("expected a change") };
        assert_eq!((c.op, c.event_time(), c.line_is_envelope), (Op::Create, Some(7), true));
        assert_eq!(c.position, Some(SourcePosition::Postgres { lsn: 5 }));
        let wrapped =
            format!(r#"{{"schema":{{"type":"struct"}},"payload":{}}}"#, std::str::from_utf8(line).unwrap());
        let Line::Change(w) = parse_line(wrapped.as_bytes()).unwrap() else { panic!("expected a change") };
        assert_eq!(
            (w.op, w.after.clone(), w.line_is_envelope),
            (Op::Create, Some(obj(json!({"id":1}))), false)
        );
        assert_eq!(parse_line(br#"{"schema":{},"payload":null}"#).unwrap(), Line::Blank);
    }

    #[test]
    fn record_forms_carry_the_key() {
        let Line::Change(c) =
            parse_line(br#"{"key":{"id":3},"value":{"op":"d","before":{"id":3},"after":null}}"#).unwrap()
        else {
            panic!("expected a change")
        };
        assert_eq!((c.op, c.key), (Op::Delete, Some(obj(json!({"id":3})))));
        assert_eq!(
            parse_line(br#"{"key":"{\"id\":3}","value":null,"topic":"t"}"#).unwrap(),
            Line::Tombstone { key: obj(json!({"id":3})) }
        );
        assert_eq!(parse_line(b"{\"id\":4}\tnull").unwrap(), Line::Tombstone { key: obj(json!({"id":4})) });
        assert_eq!(parse_line(b"{\"id\":4}\t").unwrap(), Line::Tombstone { key: obj(json!({"id":4})) });
        let Line::Change(t) = parse_line(b"{\"id\":4}\t{\"op\":\"c\",\"after\":{\"id\":4}}").unwrap() else {
            panic!("expected a change")
        };
        assert_eq!(t.key, Some(obj(json!({"id":4}))));
    }

    #[test]
    fn flattened_form() {
        let Line::Change(c) =
            parse_line(br#"{"id":1,"name":"a","__op":"u","__lsn":9,"__source_ts_ms":3}"#).unwrap()
        else {
            panic!("expected a change")
        };
        assert_eq!((c.op, c.op_inferred, c.event_time()), (Op::Update, false, Some(3)));
        assert_eq!(c.after, Some(obj(json!({"id":1,"name":"a"}))));
        assert_eq!(c.position, Some(SourcePosition::Postgres { lsn: 9 }));
        let Line::Change(d) = parse_line(br#"{"id":1,"__deleted":"true"}"#).unwrap() else {
            panic!("expected a change")
        };
        assert_eq!((d.op, d.before.clone(), d.after.clone()), (Op::Delete, Some(obj(json!({"id":1}))), None));
        let Line::Change(p) = parse_line(br#"{"id":2}"#).unwrap() else { panic!("expected a change") };
        assert!(p.op_inferred);
    }

    #[test]
    fn blanks_and_errors() {
        assert_eq!(parse_line(b"").unwrap(), Line::Blank);
        assert_eq!(parse_line(b"  \r").unwrap(), Line::Blank);
        assert_eq!(parse_line(b"null").unwrap(), Line::Blank);
        assert!(parse_line(b"{\"op\":").unwrap_err().0.starts_with("not valid JSON"));
        assert!(parse_line(b"[1,2]").unwrap_err().0.contains("found an array"));
        assert!(parse_line(br#"{"op":"x"}"#).unwrap_err().0.contains("unknown op 'x'"));
        assert!(
            parse_line(br#"{"op":"c","after":5}"#).unwrap_err().0.contains("'after' must be a JSON object")
        );
        assert!(parse_line(br#"{"key":"nope","value":null}"#).unwrap_err().0.contains("not JSON text"));
    }
}
