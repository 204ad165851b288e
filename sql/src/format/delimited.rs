//! DELIMITED: one field per column, separated by a delimiter; empty fields are null.
//!
//! Reading uses arrow-csv's decoder over the payloads joined by newlines (one pass, falling
//! back to one payload at a time to isolate bad records). `TIMESTAMP`, `DATE` and `TIME` are
//! numbers (epoch milliseconds, days, milliseconds of the day) and `BYTES` base64, as in
//! ksqlDB.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::csv::reader::{Decoder, ReaderBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{Decoded, PayloadDecoder, PayloadEncoder, base64};
use crate::error::Result;
use crate::types::SqlType;

fn read_type(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(..) => DataType::Int64,
        DataType::Date32 | DataType::Time32(_) => DataType::Int32,
        DataType::Binary => DataType::Utf8,
        other => other.clone(),
    }
}

fn to_target(a: &ArrayRef, target: &DataType) -> Result<ArrayRef, String> {
    if a.data_type() == target {
        return Ok(a.clone());
    }
    if target == &DataType::Binary {
        let s = a.as_string::<i32>();
        let mut b = BinaryBuilder::new();
        for v in s.iter() {
            match v {
                Some(v) => b.append_value(
                    base64::decode(v.as_bytes()).map_err(|e| format!("BYTES value is not base64: {e}"))?,
                ),
                None => b.append_null(),
            }
        }
        return Ok(Arc::new(b.finish()));
    }
    cast(a, target).map_err(|e| e.to_string())
}

pub(super) struct DelimitedDecoder {
    targets: Vec<DataType>,
    schema: SchemaRef,
    delimiter: u8,
    /// arrow-csv's decoder and the batch size it was built for.
    decoder: Option<(Decoder, usize)>,
    buf: Vec<u8>,
}

impl DelimitedDecoder {
    pub(super) fn new(columns: &[(String, SqlType)], delimiter: char) -> Result<Self> {
        let targets: Vec<DataType> = columns.iter().map(|c| c.1.to_arrow()).collect();
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .zip(&targets)
                .map(|((n, _), t)| Field::new(n, read_type(t), true))
                .collect::<Vec<_>>(),
        ));
        let delimiter = u8::try_from(u32::from(delimiter)).unwrap_or(b',');
        Ok(DelimitedDecoder { targets, schema, delimiter, decoder: None, buf: Vec::new() })
    }

    fn decode_all(&mut self, payloads: &[&[u8]]) -> Result<Vec<ArrayRef>, String> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for p in payloads {
            if p.contains(&b'\n') {
                self.buf = buf;
                return Err("a DELIMITED value cannot contain a newline".into());
            }
            buf.extend_from_slice(p);
            buf.push(b'\n');
        }
        let r = self.decode_buf(&buf, payloads.len());
        self.buf = buf;
        if r.is_err() {
            self.decoder = None;
        }
        r
    }

    fn decode_buf(&mut self, buf: &[u8], expected: usize) -> Result<Vec<ArrayRef>, String> {
        // Building a decoder allocates and zeroes buffers for its whole batch size, and a
        // decoder that failed is rebuilt; sized to the run of payloads, isolating bad records
        // one by one costs microseconds each instead of a millisecond.
        let size = expected.clamp(1, 1 << 16).next_power_of_two();
        if self.decoder.as_ref().is_none_or(|(_, built)| *built < size) {
            let d = ReaderBuilder::new(self.schema.clone())
                .with_header(false)
                .with_delimiter(self.delimiter)
                .with_batch_size(size)
                .build_decoder();
            self.decoder = Some((d, size));
        }
        let Some((dec, _)) = self.decoder.as_mut() else { return Err("no decoder".into()) };
        let mut batches = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let n = dec.decode(&buf[pos..]).map_err(|e| e.to_string())?;
            pos += n;
            if let Some(b) = dec.flush().map_err(|e| e.to_string())? {
                batches.push(b);
            }
            if n == 0 {
                break;
            }
        }
        if let Some(b) = dec.flush().map_err(|e| e.to_string())? {
            batches.push(b);
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows != expected {
            return Err(format!("expected {expected} record(s), found {rows}"));
        }
        let mut out = Vec::with_capacity(self.targets.len());
        for (c, t) in self.targets.iter().enumerate() {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            let a = match parts.len() {
                0 => datafusion::arrow::array::new_empty_array(self.schema.field(c).data_type()),
                1 => batches[0].column(c).clone(),
                _ => concat(&parts).map_err(|e| e.to_string())?,
            };
            out.push(to_target(&a, t)?);
        }
        Ok(out)
    }
}

impl PayloadDecoder for DelimitedDecoder {
    fn decode(&mut self, payloads: &[&[u8]]) -> Decoded {
        if let Ok(columns) = self.decode_all(payloads) {
            return Decoded { columns, rows: None, errors: Vec::new() };
        }
        let mut per_col: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.targets.len()];
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            match self.decode_all(std::slice::from_ref(p)) {
                Ok(cols) => {
                    rows.push(i as u32);
                    for (c, a) in cols.into_iter().enumerate() {
                        per_col[c].push(a);
                    }
                }
                Err(e) => errors.push((i as u32, format!("cannot deserialize DELIMITED: {e}"))),
            }
        }
        let columns = per_col
            .into_iter()
            .zip(&self.targets)
            .map(|(parts, t)| {
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                if refs.is_empty() {
                    datafusion::arrow::array::new_empty_array(t)
                } else {
                    concat(&refs).unwrap_or_else(|_| datafusion::arrow::array::new_empty_array(t))
                }
            })
            .collect();
        Decoded { columns, rows: Some(rows), errors }
    }
}

pub(super) struct DelimitedEncoder {
    delimiter: char,
    types: Vec<SqlType>,
}

impl DelimitedEncoder {
    pub(super) fn new(columns: &[(String, SqlType)], delimiter: char) -> Self {
        DelimitedEncoder { delimiter, types: columns.iter().map(|c| c.1.clone()).collect() }
    }
}

impl PayloadEncoder for DelimitedEncoder {
    fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Vec<Option<Bytes>>> {
        // Temporal columns are written as numbers; everything else with Arrow's formatter.
        let prepared: Vec<ArrayRef> = columns
            .iter()
            .zip(&self.types)
            .map(|(a, t)| match t {
                SqlType::Timestamp => cast(a, &DataType::Int64),
                SqlType::Date | SqlType::Time => cast(a, &DataType::Int32),
                _ => Ok(a.clone()),
            })
            .collect::<Result<_, _>>()?;
        let options = FormatOptions::default();
        let formatters = prepared
            .iter()
            .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let mut d = [0u8; 4];
        let delim = self.delimiter.encode_utf8(&mut d).as_bytes().to_vec();
        Ok(super::json::encode_rows(rows, |i, out| {
            for (c, (a, t)) in prepared.iter().zip(&self.types).enumerate() {
                if c > 0 {
                    out.extend_from_slice(&delim);
                }
                if a.is_null(i) {
                    continue;
                }
                match t {
                    SqlType::Bytes => base64::encode_into(a.as_binary::<i32>().value(i), out),
                    SqlType::String => {
                        let s = a.as_string::<i32>().value(i);
                        if s.contains(self.delimiter) || s.contains('"') || s.contains('\n') || s.is_empty() {
                            out.push(b'"');
                            out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
                            out.push(b'"');
                        } else {
                            out.extend_from_slice(s.as_bytes());
                        }
                    }
                    _ => {
                        use std::io::Write;
                        let _ = write!(out, "{}", formatters[c].value(i));
                    }
                }
            }
            true
        }))
    }
}
