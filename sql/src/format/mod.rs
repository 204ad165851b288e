//! Serialization formats of keys and values, batch at a time.
//!
//! A [`PayloadDecoder`] turns the payloads of a run of records into one Arrow array per column;
//! a [`PayloadEncoder`] turns columns back into one payload per row. Both follow ksqlDB's
//! conventions so that topics look the same as with ksqlDB:
//!
//! * `JSON` — an object of the columns (field names matched case-insensitively when reading);
//!   a single column is written unwrapped when `WRAP_SINGLE_VALUE=false` and for keys.
//!   `TIMESTAMP` is epoch milliseconds, `DATE` days, `TIME` milliseconds of the day, `BYTES`
//!   base64.
//! * `DELIMITED` — columns separated by `VALUE_DELIMITER` (default `,`); empty means null.
//! * `KAFKA` — one primitive column in the byte layout of Kafka's serializers (`INT` 4 bytes
//!   and `BIGINT` 8 bytes big-endian, `DOUBLE` IEEE-754 big-endian, `STRING` UTF-8, `BYTES`
//!   raw).
//! * `NONE` — no key at all.
//! * `DEBEZIUM_JSON` — values are Debezium change events, read as the rows they change
//!   (deletes delete table rows); keys are Debezium key documents. Read-only; see [`debezium`].
//!
//! Windowed keys append the window to the key bytes, as Kafka Streams does: time windows
//! `key ‖ start` (8 bytes big-endian), session windows `key ‖ end ‖ start`.

pub mod base64;
pub mod debezium;
mod delimited;
mod json;
mod kafka;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::ArrayRef;

use crate::error::{Error, Result};
use crate::types::SqlType;

pub use json::{JsonEncoder, JsonRowEncoder, json_value_encoder_options};

/// A serialization format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// Delimited text.
    Delimited {
        /// Field separator.
        delimiter: char,
    },
    /// Kafka's primitive serializers (one column).
    Kafka,
    /// No data (keys only).
    None,
    /// Debezium change events (values) and key documents (keys); read-only for values.
    DebeziumJson,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Delimited { .. } => "DELIMITED",
            Format::Kafka => "KAFKA",
            Format::None => "NONE",
            Format::DebeziumJson => "DEBEZIUM_JSON",
        })
    }
}

impl Format {
    /// Parses a format name (`delimiter` applies to DELIMITED).
    pub fn parse(name: &str, delimiter: Option<&str>) -> Result<Format> {
        let upper = name.trim().to_uppercase();
        Ok(match upper.as_str() {
            "JSON" => Format::Json,
            "DELIMITED" => Format::Delimited { delimiter: parse_delimiter(delimiter)? },
            "KAFKA" => Format::Kafka,
            "NONE" => Format::None,
            "DEBEZIUM_JSON" | "DEBEZIUM" => Format::DebeziumJson,
            "JSON_SR" | "AVRO" | "PROTOBUF" | "PROTOBUF_NOSR" => {
                return Err(Error::Unsupported(format!(
                    "format {upper}: Brook has no schema registry yet; use JSON, DELIMITED, KAFKA, NONE or DEBEZIUM_JSON"
                )));
            }
            _ => {
                return Err(Error::plan(format!(
                    "unknown format '{name}'; use JSON, DELIMITED, KAFKA, NONE or DEBEZIUM_JSON"
                )));
            }
        })
    }

    /// Checks that the columns can be carried in this format.
    pub fn check_columns(&self, what: &str, columns: &[(String, SqlType)]) -> Result<()> {
        match self {
            Format::None if !columns.is_empty() => Err(Error::plan(format!(
                "the {what} format is NONE, so there can be no {what} columns (found {})",
                names(columns)
            ))),
            Format::Kafka if columns.len() > 1 => Err(Error::plan(format!(
                "the KAFKA format holds a single column, but the {what} has {}: {}; use JSON or DELIMITED",
                columns.len(),
                names(columns)
            ))),
            Format::Kafka => match columns.first().map(|c| &c.1) {
                None
                | Some(SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::String | SqlType::Bytes) => {
                    Ok(())
                }
                Some(t) => Err(Error::plan(format!(
                    "the KAFKA format cannot hold a {t} {what} column; use INT, BIGINT, DOUBLE, STRING or BYTES, or the JSON format"
                ))),
            },
            Format::Delimited { .. } => {
                match columns
                    .iter()
                    .find(|(_, t)| matches!(t, SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)))
                {
                    Some((n, t)) => Err(Error::plan(format!(
                        "the DELIMITED format cannot hold column {n} of type {t}; use JSON"
                    ))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

fn names(columns: &[(String, SqlType)]) -> String {
    columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
}

fn parse_delimiter(d: Option<&str>) -> Result<char> {
    let Some(d) = d else { return Ok(',') };
    Ok(match d.to_uppercase().as_str() {
        "TAB" => '\t',
        "SPACE" => ' ',
        _ => {
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(Error::plan(format!(
                        "delimiter '{d}' must be a single character, TAB or SPACE"
                    )));
                }
            }
        }
    })
}

/// The columns decoded from a run of payloads.
#[derive(Debug)]
pub struct Decoded {
    /// One array per column, with one element per successfully decoded payload.
    pub columns: Vec<ArrayRef>,
    /// Indexes (into the input) of the payloads that decoded, or `None` if all did.
    pub rows: Option<Vec<u32>>,
    /// Payloads that failed, with the reason.
    pub errors: Vec<(u32, String)>,
}

impl Decoded {
    /// Whether every payload decoded.
    pub fn all_ok(&self) -> bool {
        self.rows.is_none()
    }
}

/// Decodes payloads into columns. One per task (decoders may learn from the data).
pub trait PayloadDecoder: Send {
    /// Decodes `payloads`; failures are reported per payload, never as a whole.
    fn decode(&mut self, payloads: &[&[u8]]) -> Decoded;
}

/// Encodes rows of columns into payloads.
pub trait PayloadEncoder: Send + Sync {
    /// One payload per row of `columns` (canonical Arrow types, equal lengths). `None` is a
    /// null payload (only produced when every column is null and the format allows it).
    fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Vec<Option<Bytes>>>;
}

/// How the columns of one side (key or value) are encoded.
#[derive(Debug, Clone)]
pub struct Codec {
    /// Format.
    pub format: Format,
    /// Columns (name, type), in order.
    pub columns: Vec<(String, SqlType)>,
    /// Whether a single column is wrapped in an object (JSON) — false for keys.
    pub wrap_single: bool,
}

impl Codec {
    /// A decoder for this codec.
    pub fn decoder(&self) -> Result<Box<dyn PayloadDecoder>> {
        Ok(match &self.format {
            Format::Json => Box::new(json::JsonDecoder::new(&self.columns, self.unwrapped())?),
            Format::Delimited { delimiter } => {
                Box::new(delimited::DelimitedDecoder::new(&self.columns, *delimiter)?)
            }
            Format::Kafka => Box::new(kafka::KafkaDecoder::new(&self.columns)),
            Format::None => Box::new(kafka::KafkaDecoder::new(&[])),
            // Key documents, and the `after` rows the source decoder cut out of change events
            // (`debezium::read_change`): JSON objects of the columns.
            Format::DebeziumJson => Box::new(json::JsonDecoder::new(&self.columns, false)?),
        })
    }

    /// An encoder for this codec.
    pub fn encoder(&self) -> Result<Arc<dyn PayloadEncoder>> {
        Ok(match &self.format {
            Format::Json => Arc::new(JsonEncoder::new(&self.columns, self.unwrapped())),
            Format::Delimited { delimiter } => {
                Arc::new(delimited::DelimitedEncoder::new(&self.columns, *delimiter))
            }
            Format::Kafka | Format::None => Arc::new(kafka::KafkaEncoder::new(&self.columns)),
            // Key documents as Brook's Debezium source writes them. Callers never write
            // change-event values (INSERT and query sinks refuse DEBEZIUM_JSON values).
            Format::DebeziumJson => Arc::new(KeyDocumentEncoder::new(&self.columns)),
        })
    }

    fn unwrapped(&self) -> bool {
        self.columns.len() == 1 && !self.wrap_single
    }
}

/// Debezium key documents ([`brook_streams::key_document`]), byte for byte what Brook's
/// Debezium source writes as record keys (so a repartitioned row lands on the partition of the
/// change table's row with the same key).
struct KeyDocumentEncoder {
    inner: JsonEncoder,
    /// Input column index for each encoded field, in name order.
    order: Vec<usize>,
}

impl KeyDocumentEncoder {
    fn new(columns: &[(String, SqlType)]) -> Self {
        use brook_streams::key_document::{field_name, field_order};
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let order = field_order(&names);
        let sorted: Vec<(String, SqlType)> =
            order.iter().map(|&i| (field_name(&columns[i].0), columns[i].1.clone())).collect();
        KeyDocumentEncoder { inner: JsonEncoder::new(&sorted, false), order }
    }
}

impl PayloadEncoder for KeyDocumentEncoder {
    fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Vec<Option<Bytes>>> {
        let mut sorted = Vec::with_capacity(self.order.len());
        for &i in &self.order {
            sorted.push(columns.get(i).cloned().ok_or_else(|| Error::Internal("key column missing".into()))?);
        }
        self.inner.encode(&sorted, rows)
    }
}

#[cfg(test)]
mod tests;
