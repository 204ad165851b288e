//! Turning one input record (a line, or a CSV record) into output records, per format.
//!
//! * `debezium_json` — [`crate::debezium::CdcDecoder`]: keyed change events for a table topic.
//! * `json` — the line's JSON document is the value, written unchanged; the key is the JSON
//!   object of the configured `key` columns (canonical form, as for Debezium), else null.
//! * `csv` — each record becomes a JSON object with the header's column names.

use bytes::Bytes;
use serde_json::Value;

use crate::config::{CsvOptions, Format, SourceConfig};
use crate::debezium::keys::{KeyStates, key_from_row};
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
                    key: Some(r.key),
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
                    Some(cols) => {
                        let v: Value = serde_json::from_slice(text)
                            .map_err(|e| DecodeError::new(format!("not valid JSON: {e}")))?;
                        let row = v.as_object().ok_or_else(|| {
                            DecodeError::new("the line must be a JSON object to take key columns from it")
                        })?;
                        Some(key_from_row(row, cols)?)
                    }
                    None => {
                        serde_json::from_slice::<serde::de::IgnoredAny>(text)
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
