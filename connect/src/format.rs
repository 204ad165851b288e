//! Turning one input record (a line, or a CSV record) into output records, per format.
//!
//! * `debezium_json` — [`crate::debezium::CdcDecoder`]: keyed change events for a table topic.
//! * `json` — the line's JSON document is the value, written unchanged; the key is the JSON
//!   object of the configured `key` columns (canonical form, as for Debezium), else null. The
//!   line is only checked to be JSON: no document is built, and with `key` columns only their
//!   values are (`key_fields`).
//! * `csv` — each record becomes a JSON object with the header's column names.

use bytes::Bytes;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::config::{CsvOptions, Format, SourceConfig};
use crate::debezium::keys::{KeyStates, key_from_row, key_from_values};
use crate::debezium::{CdcDecoder, LineOutcome, SourcePosition};
use crate::error::DecodeError;

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Key (`None`: a null key).
    pub key: Option<Bytes>,
    /// Value (`None`: a tombstone).
    pub value: Option<Bytes>,
    /// Record timestamp, if the input had one.
    pub timestamp: Option<i64>,
    /// Database position of a change event.
    pub cdc_position: Option<SourcePosition>,
}

/// What became of one input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// Zero or more records were produced.
    Records,
    /// Nothing to write: a blank line, a tombstone after a delete, a message event.
    Nothing,
    /// A replayed change event.
    Duplicate,
    /// A CSV header line.
    Header,
}

/// Per-file decoding state.
#[derive(Debug, Clone, Default)]
pub struct FileDecodeState {
    /// CSV column names once the header was read.
    pub columns: Option<Vec<String>>,
}

/// Decodes records of one source's format.
#[derive(Debug)]
pub enum LineDecoder {
    /// Debezium change events.
    Cdc(CdcDecoder),
    /// JSON lines.
    Json {
        /// Key columns.
        key: Option<Vec<String>>,
    },
    /// CSV.
    Csv {
        /// Key columns.
        key: Option<Vec<String>>,
        /// CSV options.
        options: CsvOptions,
    },
}

impl LineDecoder {
    /// The decoder for a source.
    pub fn new(config: &SourceConfig) -> Self {
        match config.format {
            Format::DebeziumJson => LineDecoder::Cdc(CdcDecoder::new(config.key.clone())),
            Format::Json => LineDecoder::Json { key: config.key.clone() },
            Format::Csv => LineDecoder::Csv { key: config.key.clone(), options: config.csv.clone() },
        }
    }

    /// The per-key state, for formats that keep one.
    pub fn key_states(&mut self) -> Option<&mut KeyStates> {
        match self {
            LineDecoder::Cdc(d) => Some(d.keys_mut()),
            _ => None,
        }
    }

    /// Whether the first record of a file must be read before any other (a CSV header).
    pub fn needs_header(&self, file: &FileDecodeState) -> bool {
        matches!(self, LineDecoder::Csv { options, .. } if options.header && file.columns.is_none())
    }

    /// Decodes one record, appending outputs.
    pub fn decode(
        &mut self,
        record: &Bytes,
        file: &mut FileDecodeState,
        out: &mut Vec<Output>,
    ) -> Result<Decoded, DecodeError> {
        match self {
            LineDecoder::Cdc(d) => {
                let mut recs = Vec::new();
                let outcome = d.decode(record, &mut recs)?;
                out.extend(recs.into_iter().map(|r| Output {
                    key: r.key,
                    value: r.value,
                    timestamp: r.timestamp,
                    cdc_position: r.position,
                }));
                Ok(match outcome {
                    LineOutcome::Emitted => Decoded::Records,
                    LineOutcome::Duplicate => Decoded::Duplicate,
                    LineOutcome::Blank | LineOutcome::TombstoneConsumed | LineOutcome::Ignored => {
                        Decoded::Nothing
                    }
                })
            }
            LineDecoder::Json { key } => {
                let text = record.trim_ascii();
                if text.is_empty() {
                    return Ok(Decoded::Nothing);
                }
                let k = match key {
                    Some(cols) => Some(match key_fields(text, cols) {
                        Some(values) => key_from_values(cols, &values),
                        None => key_of_document(text, cols)?,
                    }),
                    None => {
                        serde_json::from_slice::<IgnoredAny>(text)
                            .map_err(|e| DecodeError::new(format!("not valid JSON: {e}")))?;
                        None
                    }
                };
                let start = record.len() - record.trim_ascii_start().len();
                let value = record.slice(start..start + text.len());
                out.push(Output { key: k, value: Some(value), timestamp: None, cdc_position: None });
                Ok(Decoded::Records)
            }
            LineDecoder::Csv { key, options } => {
                if record.trim_ascii().is_empty() {
                    return Ok(Decoded::Nothing);
                }
                let fields = crate::csv::parse_record(record, options.delimiter)?;
                if options.header && file.columns.is_none() {
                    let names = fields
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| {
                            if f.text.trim().is_empty() {
                                format!("column_{}", i + 1)
                            } else {
                                f.text.trim().to_string()
                            }
                        })
                        .collect();
                    file.columns = Some(options.columns.clone().unwrap_or(names));
                    return Ok(Decoded::Header);
                }
                let columns = file.columns.get_or_insert_with(|| options.columns.clone().unwrap_or_default());
                let row = crate::csv::to_row(columns, fields, options.infer_types)?;
                let k = match key {
                    Some(cols) => Some(key_from_row(&row, cols)?),
                    None => None,
                };
                let value = serde_json::to_vec(&row)
                    .map_err(|e| DecodeError::new(format!("cannot encode the row as JSON: {e}")))?;
                out.push(Output {
                    key: k,
                    value: Some(Bytes::from(value)),
                    timestamp: None,
                    cdc_position: None,
                });
                Ok(Decoded::Records)
            }
        }
    }
}

/// The values of `columns` in a JSON object, parsing nothing else into values (the other
/// fields are only checked). `None` if `text` is not a JSON object holding every column; then
/// [`key_of_document`] says why.
fn key_fields(text: &[u8], columns: &[String]) -> Option<Vec<Value>> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let found = KeyFields(columns).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found.into_iter().collect()
}

/// The key of a JSON line from its whole document, or why there is none.
fn key_of_document(text: &[u8], columns: &[String]) -> Result<Bytes, DecodeError> {
    let v: Value =
        serde_json::from_slice(text).map_err(|e| DecodeError::new(format!("not valid JSON: {e}")))?;
    let row = v
        .as_object()
        .ok_or_else(|| DecodeError::new("the line must be a JSON object to take key columns from it"))?;
    key_from_row(row, columns)
}

/// Visits a JSON object, keeping the values of some fields (the last one of a repeated name,
/// as a parsed document would).
struct KeyFields<'c>(&'c [String]);

impl<'de> DeserializeSeed<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = vec![None; self.0.len()];
        while let Some(column) = map.next_key_seed(ColumnIndex(self.0))? {
            match column {
                Some(i) => found[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// Reads an object's field name as the index of the column it names, if any.
struct ColumnIndex<'c>(&'c [String]);

impl<'de> DeserializeSeed<'de> for ColumnIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|c| c == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn key_fields_match_the_whole_document() {
        let columns = cols(&["id", "region"]);
        for line in [
            r#"{"region":"eu","x":[1,{"id":9}],"id":7}"#,
            r#"{"id":{"a":1,"b":[true,null]},"region":"\u00e9\"q","pad":"x"}"#,
            r#"{"id":1,"region":"a","id":2}"#,
            r#" {"id" : 1.5e3 , "region":null} "#,
        ] {
            let fast = key_fields(line.as_bytes(), &columns).map(|v| key_from_values(&columns, &v));
            assert_eq!(fast, Some(key_of_document(line.as_bytes(), &columns).unwrap()), "{line}");
        }
    }

    #[test]
    fn lines_without_a_key_fall_back_to_the_document_errors() {
        let columns = cols(&["id"]);
        for (line, error) in [
            (r#"{"name":"x"}"#, "key column 'id' is missing"),
            ("[1,2]", "must be a JSON object"),
            (r#"{"id":1"#, "not valid JSON"),
            (r#"{"id":1} x"#, "not valid JSON"),
        ] {
            assert_eq!(key_fields(line.as_bytes(), &columns), None, "{line}");
            let e = key_of_document(line.as_bytes(), &columns).unwrap_err();
            assert!(e.0.contains(error), "{line}: {e}");
        }
    }
}
