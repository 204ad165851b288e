//! CSV records (RFC 4180): framing, field splitting, and conversion to JSON rows.
//!
//! A record ends at a newline outside quotes, so a quoted field may span lines. A quote opens a
//! quoted field only at the start of a field; inside it, `""` is a literal quote. Each record
//! becomes a JSON object keyed by the header's column names; with type inference (the
//! default), unquoted fields that look like integers, decimals or booleans become JSON numbers
//! and booleans and an empty unquoted field becomes `null` — a quoted field always stays text.

use serde_json::{Map, Number, Value};

use crate::error::DecodeError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just read a quote inside a quoted field: the end of the field or an escaped quote.
    QuoteInQuoted,
}

/// The index of the newline that ends the first record of `buf`, or `None` if `buf` holds no
/// complete record yet.
pub fn record_end(buf: &[u8], delimiter: u8) -> Option<usize> {
    let mut state = State::FieldStart;
    for (i, &b) in buf.iter().enumerate() {
        state = match (state, b) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::FieldStart, b'"') => State::Quoted,
            (_, b'\n') => return Some(i),
            (_, d) if d == delimiter => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    None
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's text, quotes removed and `""` unescaped.
    pub text: String,
    /// Whether the field was quoted.
    pub quoted: bool,
}

/// Splits one record (without its final newline) into fields.
pub fn parse_record(record: &[u8], delimiter: u8) -> Result<Vec<Field>, DecodeError> {
    let record = record.strip_suffix(b"\r").unwrap_or(record);
    let text = std::str::from_utf8(record)
        .map_err(|e| DecodeError::new(format!("CSV record is not valid UTF-8: {e}")))?;
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut state = State::FieldStart;
    for c in text.chars() {
        match (state, c) {
            (State::FieldStart, '"') => {
                quoted = true;
                state = State::Quoted;
            }
            (State::Quoted, '"') => state = State::QuoteInQuoted,
            (State::Quoted, c) => field.push(c),
            (State::QuoteInQuoted, '"') => {
                field.push('"');
                state = State::Quoted;
            }
            (State::QuoteInQuoted | State::FieldStart | State::Unquoted, c) if c == delimiter as char => {
                fields.push(Field { text: std::mem::take(&mut field), quoted });
                quoted = false;
                state = State::FieldStart;
            }
            (State::QuoteInQuoted, c) => {
                return Err(DecodeError::new(format!(
                    "CSV field {} has '{c}' after its closing quote (write a quote inside a quoted field as \"\")",
                    fields.len() + 1
                )));
            }
            (State::FieldStart | State::Unquoted, c) => {
                field.push(c);
                state = State::Unquoted;
            }
        }
    }
    if state == State::Quoted {
        return Err(DecodeError::new(format!("CSV field {} has no closing quote", fields.len() + 1)));
    }
    fields.push(Field { text: field, quoted });
    Ok(fields)
}

/// Turns a record's fields into a JSON row with the given column names.
pub fn to_row(
    columns: &[String],
    fields: Vec<Field>,
    infer_types: bool,
) -> Result<Map<String, Value>, DecodeError> {
    if fields.len() != columns.len() {
        return Err(DecodeError::new(format!(
            "CSV record has {} fields but the header has {} columns",
            fields.len(),
            columns.len()
        )));
    }
    let mut row = Map::new();
    for (name, field) in columns.iter().zip(fields) {
        let value = if infer_types && !field.quoted { infer(field.text) } else { Value::String(field.text) };
        row.insert(name.clone(), value);
    }
    Ok(row)
}

/// The JSON value an unquoted field most likely means.
fn infer(text: String) -> Value {
    match text.as_str() {
        "" => return Value::Null,
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    // Only canonical numbers: "007" or "+1" stay text so nothing is lost.
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let canonical_int = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical_int && let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_decimal = digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() == 1
        && digits.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && digits.as_bytes().last().is_some_and(u8::is_ascii_digit)
        && (!digits.starts_with('0') || digits.starts_with("0."));
    if looks_decimal && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn texts(record: &str) -> Vec<String> {
        parse_record(record.as_bytes(), b',').unwrap().into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn framing_respects_quotes() {
        assert_eq!(record_end(b"a,b\nc", b','), Some(3));
        assert_eq!(record_end(b"a,\"b\nc\",d\ne", b','), Some(9));
        assert_eq!(record_end(b"a,\"b\nc", b','), None);
        assert_eq!(record_end(b"a,b\"c\nd", b','), Some(5), "a quote inside an unquoted field is literal");
        assert_eq!(record_end(b"\"a\"\"\n\"\nx", b','), Some(6));
    }

    #[test]
    fn fields_and_errors() {
        assert_eq!(texts("a,\"b,c\",\"say \"\"hi\"\"\",,x\r"), vec!["a", "b,c", "say \"hi\"", "", "x"]);
        assert_eq!(texts("\"multi\nline\""), vec!["multi\nline"]);
        assert!(parse_record(b"\"ab\"c", b',').unwrap_err().0.contains("after its closing quote"));
        assert!(parse_record(b"\"ab", b',').unwrap_err().0.contains("no closing quote"));
        assert_eq!(parse_record(b"a;b", b';').unwrap().len(), 2);
    }

    #[test]
    fn rows_with_inferred_types() {
        let cols: Vec<String> = ["id", "name", "price", "zip", "ok", "note", "q"].map(String::from).to_vec();
        let fields = parse_record(b"7,Ada,12.50,007,true,,\"42\"", b',').unwrap();
        let row = to_row(&cols, fields, true).unwrap();
        assert_eq!(
            Value::Object(row),
            json!({"id":7,"name":"Ada","price":12.5,"zip":"007","ok":true,"note":null,"q":"42"})
        );
        let err = to_row(&cols, parse_record(b"1,2", b',').unwrap(), true).unwrap_err();
        assert!(err.0.contains("has 2 fields but the header has 7 columns"));
        let raw = to_row(&cols[..1], parse_record(b"7", b',').unwrap(), false).unwrap();
        assert_eq!(Value::Object(raw), json!({"id":"7"}));
    }

    proptest! {
        /// Any fields, written the RFC 4180 way, frame as one record and parse back unchanged.
        #[test]
        fn quoted_fields_round_trip(fields in proptest::collection::vec("[a-z,\"\n ]{0,8}", 1..6)) {
            let line: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect();
            let record = line.join(",");
            let framed = format!("{record}\nnext");
            prop_assert_eq!(record_end(framed.as_bytes(), b','), Some(record.len()));
            prop_assert_eq!(texts(&record), fields);
        }
    }
}
