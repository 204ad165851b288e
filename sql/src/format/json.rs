//! JSON: arrow-json's tape decoder for reading, arrow-json encoders for writing.
//!
//! Reading a run of payloads is one decoder pass over the payloads joined by newlines; only if
//! that fails (a bad record somewhere) are payloads decoded one by one to find which ones fail.
//!
//! Field names are matched case-insensitively, as ksqlDB does: every column is decoded under
//! each of its spellings (as declared, lower case, upper case, and any other spelling seen in
//! the data at the top level) that the data has used so far, and the spellings are coalesced in
//! that order. A spelling no payload has used is not decoded (it would only add a column of
//! nulls and a name to compare every field with); a null cell whose payload holds the column
//! under a spelling not decoded yet makes the decoder learn it and decode the batch again. `BYTES` are read as base64
//! strings.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, ListArray, MapArray, RecordBatch, StructArray,
};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{cast, concat, is_not_null, is_null};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::reader::{Decoder, ReaderBuilder};
use datafusion::arrow::json::writer::{
    Encoder, EncoderFactory, EncoderOptions, NullableEncoder, make_encoder,
};

use super::{Decoded, PayloadDecoder, PayloadEncoder, base64};
use crate::error::{Error, Result};
use crate::limits::{NestingLimits, json_deeper_than};
use crate::types::SqlType;

/// The spellings a (nested) field is looked up under.
fn spellings_of(name: &str) -> Vec<String> {
    let mut v = vec![name.to_string()];
    for s in [name.to_lowercase(), name.to_uppercase()] {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// The type the decoder reads for a target type: structs get one child per spelling, BYTES
/// are read as (base64) strings.
fn widen(dt: &DataType) -> DataType {
    match dt {
        DataType::Struct(fields) => DataType::Struct(Fields::from(
            fields
                .iter()
                .flat_map(|f| {
                    let t = widen(f.data_type());
                    spellings_of(f.name()).into_iter().map(move |s| Field::new(s, t.clone(), true))
                })
                .collect::<Vec<_>>(),
        )),
        DataType::List(f) => DataType::List(Arc::new(Field::new(f.name(), widen(f.data_type()), true))),
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => DataType::Map(
                Arc::new(Field::new(
                    entries.name(),
                    DataType::Struct(Fields::from(vec![
                        kv[0].as_ref().clone(),
                        Field::new(kv[1].name(), widen(kv[1].data_type()), true),
                    ])),
                    false,
                )),
                *sorted,
            ),
            _ => dt.clone(),
        },
        DataType::Binary => DataType::Utf8,
        _ => dt.clone(),
    }
}

/// First non-null value per row across `parts`.
fn coalesce(parts: Vec<ArrayRef>) -> Result<ArrayRef, ArrowError> {
    let mut iter = parts.into_iter();
    let Some(mut acc) = iter.next() else {
        return Err(ArrowError::InvalidArgumentError("nothing to coalesce".into()));
    };
    for next in iter {
        if acc.null_count() == 0 {
            break;
        }
        if next.null_count() == next.len() {
            continue;
        }
        if acc.null_count() == acc.len() {
            acc = next;
            continue;
        }
        let take_next = datafusion::arrow::compute::and(&is_null(&acc)?, &is_not_null(&next)?)?;
        acc = zip(&take_next, &next, &acc)?;
    }
    Ok(acc)
}

/// Converts what the decoder produced for `widen(target)` into `target`.
fn narrow(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    match (array.data_type(), target) {
        (DataType::Struct(_), DataType::Struct(tf)) => {
            let s = array.as_struct();
            let mut children = Vec::with_capacity(tf.len());
            let mut idx = 0;
            for f in tf {
                let n = spellings_of(f.name()).len();
                let parts = (idx..idx + n)
                    .map(|k| narrow(s.column(k), f.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                idx += n;
                children.push(coalesce(parts)?);
            }
            Ok(Arc::new(StructArray::try_new(tf.clone(), children, s.nulls().cloned())?))
        }
        (DataType::List(_), DataType::List(tf)) => {
            let l = array.as_list::<i32>();
            let values = narrow(l.values(), tf.data_type())?;
            Ok(Arc::new(ListArray::try_new(tf.clone(), l.offsets().clone(), values, l.nulls().cloned())?))
        }
        (DataType::Map(..), DataType::Map(tf, sorted)) => {
            let m = array.as_map();
            let DataType::Struct(kv) = tf.data_type() else {
                return Err(ArrowError::InvalidArgumentError("map entries must be a struct".into()));
            };
            let values = narrow(m.values(), kv[1].data_type())?;
            let entries = StructArray::try_new(kv.clone(), vec![m.keys().clone(), values], None)?;
            Ok(Arc::new(MapArray::try_new(
                tf.clone(),
                m.offsets().clone(),
                entries,
                m.nulls().cloned(),
                *sorted,
            )?))
        }
        (DataType::Utf8, DataType::Binary) => {
            let s = array.as_string::<i32>();
            let mut b = BinaryBuilder::with_capacity(s.len(), s.value_data().len());
            for v in s.iter() {
                match v {
                    Some(v) => b
                        .append_value(base64::decode(v.as_bytes()).map_err(|e| {
                            ArrowError::ParseError(format!("BYTES value is not base64: {e}"))
                        })?),
                    None => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }
        (a, b) if a == b => Ok(array.clone()),
        _ => cast(array, target),
    }
}

/// Reads JSON payloads into columns.
pub(super) struct JsonDecoder {
    target: Vec<FieldRef>,
    unwrapped: bool,
    /// Top-level spellings per target column, in order of preference: as declared, lower case,
    /// upper case, then others seen in the data.
    spellings: Vec<Vec<String>>,
    /// Per target column and spelling: whether a payload has used it (only those are decoded).
    seen: Vec<Vec<bool>>,
    /// Indexes into the decoder's schema, per target column.
    layout: Vec<Vec<usize>>,
    schema: SchemaRef,
    decoder: Option<Decoder>,
    buf: Vec<u8>,
    /// [`NestingLimits::json`] when the decoder was made: deeper payloads are errors.
    max_depth: usize,
}

impl JsonDecoder {
    pub(super) fn new(columns: &[(String, SqlType)], unwrapped: bool) -> Result<Self> {
        let target: Vec<FieldRef> =
            columns.iter().map(|(n, t)| Arc::new(Field::new(n, t.to_arrow(), true))).collect();
        let spellings: Vec<Vec<String>> = target.iter().map(|f| spellings_of(f.name())).collect();
        let seen = spellings.iter().map(|s| vec![false; s.len()]).collect();
        let mut d = JsonDecoder {
            target,
            unwrapped,
            spellings,
            seen,
            layout: Vec::new(),
            schema: Arc::new(Schema::empty()),
            decoder: None,
            buf: Vec::new(),
            max_depth: NestingLimits::current().json,
        };
        d.relayout();
        Ok(d)
    }

    fn relayout(&mut self) {
        let mut fields = Vec::new();
        self.layout.clear();
        for (c, f) in self.target.iter().enumerate() {
            let t = widen(f.data_type());
            let mut idx = Vec::new();
            for (s, _) in self.spellings[c].iter().zip(&self.seen[c]).filter(|(_, seen)| **seen) {
                idx.push(fields.len());
                fields.push(Field::new(s, t.clone(), true));
            }
            self.layout.push(idx);
        }
        self.schema = Arc::new(Schema::new(fields));
        self.decoder = None;
    }

    fn decoder(&mut self) -> Result<&mut Decoder, ArrowError> {
        if self.decoder.is_none() {
            let builder = if self.unwrapped {
                let f = &self.target[0];
                ReaderBuilder::new_with_field(Field::new(f.name(), widen(f.data_type()), true))
            } else {
                ReaderBuilder::new(self.schema.clone())
            };
            let d = builder
                .with_batch_size(1 << 16)
                .with_coerce_primitive(true)
                .with_strict_mode(false)
                .build_decoder()?;
            self.decoder = Some(d);
        }
        self.decoder.as_mut().ok_or_else(|| ArrowError::ComputeError("decoder missing".into()))
    }

    /// Learns top-level field spellings from one payload.
    fn sniff(&mut self, payload: &[u8]) {
        let Ok(map) = serde_json::from_slice::<HashMap<String, serde::de::IgnoredAny>>(payload) else {
            return;
        };
        let mut changed = false;
        for key in map.keys() {
            let mut known = false;
            for (spells, seen) in self.spellings.iter().zip(self.seen.iter_mut()) {
                if let Some(k) = spells.iter().position(|s| s == key) {
                    known = true;
                    changed |= !seen[k];
                    seen[k] = true;
                }
            }
            if known {
                continue;
            }
            if let Some(i) = self.target.iter().position(|f| f.name().eq_ignore_ascii_case(key)) {
                self.spellings[i].push(key.clone());
                self.seen[i].push(true);
                changed = true;
            }
        }
        if changed {
            self.relayout();
        }
    }

    /// A NULL may be a field spelled in a way not decoded yet ("Name" for `name`): for each
    /// null cell, looks for the column's name in the payload, case-insensitively, under a
    /// spelling not decoded yet, and learns the payload's spellings if so. Returns whether any
    /// spelling was learned. Rows without nulls cost nothing.
    fn learn_from_nulls(&mut self, payloads: &[&[u8]], columns: &[ArrayRef]) -> bool {
        let mut suspects = Vec::new();
        for (c, col) in columns.iter().enumerate() {
            if col.null_count() == 0 {
                continue;
            }
            let name = self.target[c].name().as_bytes();
            for (i, p) in payloads.iter().enumerate() {
                if col.is_null(i) && has_unknown_spelling(p, name, &self.spellings[c], &self.seen[c]) {
                    suspects.push(i);
                }
            }
        }
        let decoded = |seen: &[Vec<bool>]| seen.iter().flatten().filter(|s| **s).count();
        let before = decoded(&self.seen);
        suspects.sort_unstable();
        suspects.dedup();
        for i in suspects {
            self.sniff(payloads[i]);
        }
        decoded(&self.seen) > before
    }

    fn decode_all(&mut self, payloads: &[&[u8]]) -> Result<Vec<ArrayRef>, String> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for p in payloads {
            buf.extend_from_slice(p);
            buf.push(b'\n');
        }
        let result = self.decode_buf(&buf, payloads.len());
        self.buf = buf;
        if result.is_err() {
            self.decoder = None; // a failed decoder may hold a partial record
        }
        result
    }

    fn decode_buf(&mut self, buf: &[u8], expected: usize) -> Result<Vec<ArrayRef>, String> {
        let dec = self.decoder().map_err(|e| e.to_string())?;
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let n = dec.decode(&buf[pos..]).map_err(|e| clean(&e))?;
            pos += n;
            if n == 0 || pos < buf.len() {
                if let Some(b) = dec.flush().map_err(|e| clean(&e))? {
                    batches.push(b);
                }
                if n == 0 {
                    break;
                }
            }
        }
        if dec.has_partial_record() {
            return Err("incomplete JSON value".into());
        }
        if let Some(b) = dec.flush().map_err(|e| clean(&e))? {
            batches.push(b);
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows != expected {
            return Err(if expected == 1 && rows == 0 {
                "empty value".to_string()
            } else {
                format!("expected {expected} JSON value(s), found {rows}")
            });
        }
        let width = if self.unwrapped { 1 } else { self.schema.fields().len() };
        let mut wide: Vec<ArrayRef> = Vec::with_capacity(width);
        for c in 0..width {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            wide.push(match parts.len() {
                0 => datafusion::arrow::array::new_empty_array(self.schema.field(c).data_type()),
                1 => batches[0].column(c).clone(),
                _ => concat(&parts).map_err(|e| e.to_string())?,
            });
        }
        if self.unwrapped {
            return Ok(vec![narrow(&wide[0], self.target[0].data_type()).map_err(|e| clean(&e))?]);
        }
        let mut out = Vec::with_capacity(self.target.len());
        for (f, idx) in self.target.iter().zip(&self.layout) {
            if idx.is_empty() {
                // No payload has used any spelling of this column.
                out.push(datafusion::arrow::array::new_null_array(f.data_type(), rows));
                continue;
            }
            let parts = idx
                .iter()
                .map(|&i| narrow(&wide[i], f.data_type()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| clean(&e))?;
            out.push(coalesce(parts).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }
}

/// Whether `payload` holds the quoted key `"name"` in a letter case other than the spellings
/// of `spellings` marked in `decoded`.
fn has_unknown_spelling(payload: &[u8], name: &[u8], spellings: &[String], decoded: &[bool]) -> bool {
    let n = name.len();
    if n == 0 || payload.len() < n + 2 {
        return false;
    }
    let mut at = 0;
    while let Some(q) = payload[at..].iter().position(|&b| b == b'"') {
        let start = at + q + 1;
        let end = start + n;
        if end < payload.len() && payload[end] == b'"' {
            let word = &payload[start..end];
            let known = spellings.iter().zip(decoded).any(|(k, d)| *d && k.as_bytes() == word);
            if word.eq_ignore_ascii_case(name) && !known {
                return true;
            }
        }
        at = start;
    }
    false
}

fn clean(e: &ArrowError) -> String {
    e.to_string().replace("Json error: ", "").replace("Parser error: ", "")
}

impl PayloadDecoder for JsonDecoder {
    fn decode(&mut self, payloads: &[&[u8]]) -> Decoded {
        // arrow-json's reader recurses over a value's nesting when it explains a type
        // mismatch, so a payload nested too deep must never reach it.
        let too_deep = |p: &&[u8]| json_deeper_than(p, self.max_depth);
        if payloads.iter().any(too_deep) {
            return self.decode_one_by_one(payloads);
        }
        if !self.unwrapped {
            // Spellings are learned from a sample (first and last payload); the row-by-row
            // fallback below learns from every payload.
            if let Some(first) = payloads.first() {
                self.sniff(first);
            }
            if payloads.len() > 1
                && let Some(last) = payloads.last()
            {
                self.sniff(last);
            }
        }
        if let Ok(columns) = self.decode_all(payloads) {
            if self.unwrapped || !self.learn_from_nulls(payloads, &columns) {
                return Decoded { columns, rows: None, errors: Vec::new() };
            }
            // A spelling first seen in the middle of the batch: decode it again with it.
            if let Ok(columns) = self.decode_all(payloads) {
                return Decoded { columns, rows: None, errors: Vec::new() };
            }
        }
        self.decode_one_by_one(payloads)
    }
}

impl JsonDecoder {
    /// Decodes each payload on its own, to find the bad ones.
    fn decode_one_by_one(&mut self, payloads: &[&[u8]]) -> Decoded {
        let mut per_col: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.target.len()];
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            if json_deeper_than(p, self.max_depth) {
                errors.push((
                    i as u32,
                    format!(
                        "cannot deserialize JSON: nested more than {} levels deep (json.max.nesting.depth)",
                        self.max_depth
                    ),
                ));
                continue;
            }
            if !self.unwrapped {
                self.sniff(p);
            }
            match self.decode_all(std::slice::from_ref(p)) {
                Ok(cols) => {
                    rows.push(i as u32);
                    for (c, a) in cols.into_iter().enumerate() {
                        per_col[c].push(a);
                    }
                }
                Err(e) => errors.push((i as u32, format!("cannot deserialize JSON: {e}"))),
            }
        }
        let columns = per_col
            .into_iter()
            .zip(&self.target)
            .map(|(parts, f)| {
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                if refs.is_empty() {
                    datafusion::arrow::array::new_empty_array(f.data_type())
                } else {
                    concat(&refs).unwrap_or_else(|_| datafusion::arrow::array::new_empty_array(f.data_type()))
                }
            })
            .collect();
        Decoded { columns, rows: Some(rows), errors }
    }
}

/// ksqlDB's JSON conventions for types arrow-json writes differently: temporal types as
/// numbers (or ISO strings for display), `BYTES` as base64.
#[derive(Debug)]
struct KsqlEncoderFactory {
    temporal_as_numbers: bool,
}

struct MillisEncoder<'a> {
    array: &'a dyn Array,
}

impl Encoder for MillisEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        use datafusion::arrow::datatypes::*;
        let a = self.array;
        let v: i64 = match a.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => {
                a.as_primitive::<TimestampSecondType>().value(idx) * 1000
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                a.as_primitive::<TimestampMillisecondType>().value(idx)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                a.as_primitive::<TimestampMicrosecondType>().value(idx).div_euclid(1000)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                a.as_primitive::<TimestampNanosecondType>().value(idx).div_euclid(1_000_000)
            }
            DataType::Date32 => i64::from(a.as_primitive::<Date32Type>().value(idx)),
            DataType::Date64 => a.as_primitive::<Date64Type>().value(idx).div_euclid(86_400_000),
            DataType::Time32(TimeUnit::Second) => {
                i64::from(a.as_primitive::<Time32SecondType>().value(idx)) * 1000
            }
            DataType::Time32(_) => i64::from(a.as_primitive::<Time32MillisecondType>().value(idx)),
            DataType::Time64(TimeUnit::Microsecond) => {
                a.as_primitive::<Time64MicrosecondType>().value(idx) / 1000
            }
            DataType::Time64(_) => a.as_primitive::<Time64NanosecondType>().value(idx) / 1_000_000,
            _ => 0,
        };
        use std::io::Write;
        let _ = write!(out, "{v}");
    }
}

struct Base64Encoder<'a> {
    array: &'a dyn Array,
}

impl Encoder for Base64Encoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v: &[u8] = match self.array.data_type() {
            DataType::LargeBinary => self.array.as_binary::<i64>().value(idx),
            DataType::BinaryView => self.array.as_binary_view().value(idx),
            _ => self.array.as_binary::<i32>().value(idx),
        };
        out.push(b'"');
        base64::encode_into(v, out);
        out.push(b'"');
    }
}

impl EncoderFactory for KsqlEncoderFactory {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let nulls = array.nulls().cloned();
        Ok(match array.data_type() {
            DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
                if self.temporal_as_numbers =>
            {
                Some(NullableEncoder::new(Box::new(MillisEncoder { array }), nulls))
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Some(NullableEncoder::new(Box::new(Base64Encoder { array }), nulls))
            }
            _ => None,
        })
    }
}

/// Encoder options for values written to topics (ksqlDB's JSON conventions).
pub fn json_value_encoder_options() -> EncoderOptions {
    EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(KsqlEncoderFactory { temporal_as_numbers: true }))
}

/// Writes rows as JSON objects (or bare values when unwrapped).
pub struct JsonEncoder {
    fields: Fields,
    unwrapped: bool,
}

impl JsonEncoder {
    /// An encoder for these columns.
    pub fn new(columns: &[(String, SqlType)], unwrapped: bool) -> Self {
        let fields =
            Fields::from(columns.iter().map(|(n, t)| Field::new(n, t.to_arrow(), true)).collect::<Vec<_>>());
        JsonEncoder { fields, unwrapped }
    }
}

impl PayloadEncoder for JsonEncoder {
    fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Vec<Option<Bytes>>> {
        let options = json_value_encoder_options();
        if self.unwrapped {
            let field = self.fields[0].clone();
            let array = columns.first().ok_or_else(|| Error::Internal("no column to encode".into()))?;
            let mut enc = make_encoder(&field, array.as_ref(), &options)?;
            return Ok(encode_rows(rows, |i, out| {
                if enc.is_null(i) {
                    false
                } else {
                    enc.encode(i, out);
                    true
                }
            }));
        }
        let array: ArrayRef = if self.fields.is_empty() {
            Arc::new(StructArray::new_empty_fields(rows, None))
        } else {
            Arc::new(StructArray::try_new(self.fields.clone(), columns.to_vec(), None)?)
        };
        let field: FieldRef = Arc::new(Field::new("value", array.data_type().clone(), true));
        let mut enc = make_encoder(&field, array.as_ref(), &options)?;
        Ok(encode_rows(rows, |i, out| {
            enc.encode(i, out);
            true
        }))
    }
}

/// Encodes `rows` payloads into one buffer and hands out zero-copy slices of it; `f` returns
/// `false` for a null payload.
pub(crate) fn encode_rows(rows: usize, mut f: impl FnMut(usize, &mut Vec<u8>) -> bool) -> Vec<Option<Bytes>> {
    let mut buf = Vec::with_capacity(rows * 32);
    let mut bounds = Vec::with_capacity(rows);
    for i in 0..rows {
        let start = buf.len();
        let present = f(i, &mut buf);
        bounds.push(present.then_some((start, buf.len())));
    }
    let all = Bytes::from(buf);
    bounds.into_iter().map(|b| b.map(|(s, e)| all.slice(s..e))).collect()
}

/// Writes rows as JSON arrays of column values (the HTTP API's row format): temporal values as
/// ISO-8601 strings, `BYTES` as base64.
pub struct JsonRowEncoder;

impl JsonRowEncoder {
    /// One `[v1, v2, …]` per row.
    pub fn encode(columns: &[ArrayRef], rows: usize) -> Result<Vec<Bytes>> {
        let options = EncoderOptions::default()
            .with_explicit_nulls(true)
            .with_encoder_factory(Arc::new(KsqlEncoderFactory { temporal_as_numbers: false }));
        let fields: Vec<FieldRef> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Arc::new(Field::new(format!("c{i}"), c.data_type().clone(), true)))
            .collect();
        let mut encoders = Vec::with_capacity(columns.len());
        for (f, c) in fields.iter().zip(columns) {
            encoders.push(make_encoder(f, c.as_ref(), &options)?);
        }
        Ok(encode_rows(rows, |i, out| {
            out.push(b'[');
            for (k, e) in encoders.iter_mut().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                if e.is_null(i) {
                    out.extend_from_slice(b"null");
                } else {
                    e.encode(i, out);
                }
            }
            out.push(b']');
            true
        })
        .into_iter()
        .map(|b| b.unwrap_or_default())
        .collect())
    }
}
