//! Source decoding: a run of raw records → one Arrow batch in the source's schema.
//!
//! Keys and values are decoded column-wise by the formats ([`crate::format`]); headers and
//! pseudo-columns come from the record metadata. A record whose key or value does not decode
//! (or whose timestamp column is missing or unreadable) goes to the processing log and is left
//! out of the batch. Streams ignore records with a null value; for tables a null value is a
//! tombstone row. With `VALUE_FORMAT='DEBEZIUM_JSON'` each value is first read as a change
//! event ([`crate::format::debezium`]): its `after` row is decoded as the value, and a delete
//! is a tombstone row (tables) or no row (streams). A change event without a record key (a
//! value-only dump) is keyed by the source's declared key columns, read from its `after` row
//! (`before` for a delete); an update that changed the key also deletes the old key. A record
//! key, where present, must name the same row (else the record is logged and skipped).

use std::borrow::Cow;
use std::sync::Arc;

use brook_streams::record::InputRecord;
use brook_streams::task::TaskContext;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int32Array, Int64Array, ListBuilder, RecordBatch,
    StringBuilder, StructBuilder, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, SchemaRef};

use super::log::{ProcessingLog, RecordRef};
use crate::catalog::{ColumnRole, SourceDef};
use crate::error::{Error, Result};
use crate::format::debezium::{Change, check_record_key, keyed_by_rows, read_change};
use brook_streams::windowed_key;

use crate::format::{Codec, Format, PayloadDecoder};
use crate::planner::schema::RelSchema;

/// How event time is read.
#[derive(Debug, Clone)]
enum TimeSource {
    Record,
    Column { index: usize, format: Option<String> },
}

/// Decodes records of one source.
pub(crate) struct SourceDecoder {
    name: String,
    schema: SchemaRef,
    is_table: bool,
    /// Values are Debezium change events.
    change_events: bool,
    key: Box<dyn PayloadDecoder>,
    value: Box<dyn PayloadDecoder>,
    /// Schema positions of key, value and header columns.
    key_cols: Vec<usize>,
    value_cols: Vec<usize>,
    header_cols: Vec<(usize, ColumnRole)>,
    time: TimeSource,
    window_size: Option<Option<i64>>,
    user_columns: usize,
    log: ProcessingLog,
}

impl SourceDecoder {
    pub(crate) fn new(def: &SourceDef, schema: &RelSchema, log: ProcessingLog) -> Result<Self> {
        let mut key_cols = Vec::new();
        let mut value_cols = Vec::new();
        let mut header_cols = Vec::new();
        for (i, c) in def.columns.iter().enumerate() {
            match &c.role {
                ColumnRole::Key => key_cols.push(i),
                ColumnRole::Value => value_cols.push(i),
                r => header_cols.push((i, r.clone())),
            }
        }
        let key_codec = Codec {
            format: def.key_format.clone(),
            columns: key_cols
                .iter()
                .map(|&i| (def.columns[i].name.clone(), def.columns[i].ty.clone()))
                .collect(),
            wrap_single: false,
        };
        let value_codec = Codec {
            format: def.value_format.clone(),
            columns: value_cols
                .iter()
                .map(|&i| (def.columns[i].name.clone(), def.columns[i].ty.clone()))
                .collect(),
            wrap_single: def.wrap_single_value,
        };
        let time = match &def.timestamp_column {
            None => TimeSource::Record,
            Some(col) => TimeSource::Column {
                index: def.columns.iter().position(|c| &c.name == col).ok_or_else(|| {
                    Error::plan(format!("TIMESTAMP column {col} is not a column of {}", def.name))
                })?,
                format: def.timestamp_format.clone(),
            },
        };
        Ok(SourceDecoder {
            name: def.name.clone(),
            schema: schema.arrow(),
            is_table: def.is_table(),
            change_events: def.value_format == Format::DebeziumJson,
            key: key_codec.decoder()?,
            value: value_codec.decoder()?,
            key_cols,
            value_cols,
            header_cols,
            time,
            window_size: def.window.map(|w| w.size()),
            user_columns: def.columns.len(),
            log,
        })
    }

    /// Skips `r`: a message starting `key: ` or `value: ` says that part cannot be read (a
    /// deserialization error in the processing log), any other one why the record cannot be
    /// used.
    fn skip(&self, ctx: &mut TaskContext, r: &InputRecord, message: &str) {
        for target in ["key", "value"] {
            if message.strip_prefix(target).is_some_and(|rest| rest.starts_with(": ")) {
                self.log.skip_unreadable(ctx, &self.name, target, message, r);
                return;
            }
        }
        let at = RecordRef { topic: Some(r.topic.clone()), partition: r.partition, offset: r.offset };
        self.log.skip(ctx, &self.name, message, &at);
    }

    /// Decodes `records` into a batch (`None` when no record survives).
    pub(crate) fn decode(
        &mut self,
        records: &[InputRecord],
        ctx: &mut TaskContext,
    ) -> Result<Option<RecordBatch>> {
        // Which records become rows at all.
        let mut rows: Vec<u32> = Vec::with_capacity(records.len());
        let mut windows: Vec<(i64, i64)> = Vec::new();
        // Change events without a record key are keyed by the key columns read from their rows
        // (the schema's user columns are the source's columns, in order).
        let row_key_columns: Vec<String> = if self.change_events && self.window_size.is_none() {
            self.key_cols.iter().map(|&i| self.schema.field(i).name().clone()).collect()
        } else {
            Vec::new()
        };
        // Record keys, or keys read from the rows of change events without one.
        let mut keys: Vec<Option<Cow<'_, [u8]>>> = Vec::with_capacity(records.len());
        // The value payload of each row (`None`: a tombstone).
        let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let mut value = r.value.as_deref();
            if self.change_events
                && let Some(v) = value
            {
                let change = match read_change(v) {
                    Ok(Change::Skip(reason)) => {
                        if let (Some(reason), true) = (reason, self.is_table) {
                            self.skip(ctx, r, &format!("value: {reason}"));
                        }
                        continue;
                    }
                    Ok(change) => change,
                    Err(e) => {
                        self.skip(ctx, r, &format!("value: {e}"));
                        continue;
                    }
                };
                if r.key.is_none() && !row_key_columns.is_empty() {
                    // A value-only change event: keyed by the declared key, read from its rows.
                    match keyed_by_rows(&change, &row_key_columns) {
                        Ok(changed) => {
                            for (key, row) in changed {
                                if row.is_some() || self.is_table {
                                    rows.push(i as u32);
                                    keys.push(Some(Cow::Owned(key.to_vec())));
                                    values.push(row);
                                }
                            }
                        }
                        Err(e) => self.skip(ctx, r, &format!("value: {e}")),
                    }
                    continue;
                }
                if let Some(key) = r.key.as_deref()
                    && !row_key_columns.is_empty()
                    && let Err(e) = check_record_key(key, &change, &row_key_columns)
                {
                    self.skip(ctx, r, &format!("key: {e}"));
                    continue;
                }
                value = match change {
                    Change::Upsert { after, .. } => Some(after),
                    Change::Delete { .. } => None,
                    Change::Skip(_) => continue,
                };
            }
            if value.is_none() && !self.is_table {
                continue; // streams ignore tombstones (and deletes)
            }
            let mut key = r.key.as_deref();
            if self.is_table && key.is_none() {
                self.skip(ctx, r, "table record with a null key");
                continue;
            }
            if let (Some(size), Some(k)) = (self.window_size, key) {
                match windowed_key::split(k, size) {
                    Some((inner, s, e)) => {
                        key = Some(inner);
                        windows.push((s, e));
                    }
                    None => {
                        self.skip(ctx, r, "windowed key is too short to hold its window");
                        continue;
                    }
                }
            }
            rows.push(i as u32);
            keys.push(key.map(Cow::Borrowed));
            values.push(value);
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let mut ok = vec![true; rows.len()];

        // Keys.
        let key_arrays = if self.key_cols.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<Option<&[u8]>> = keys.iter().map(|k| k.as_deref()).collect();
            let (arrays, errors) = decode_present(self.key.as_mut(), &keys)?;
            for (j, msg) in errors {
                ok[j] = false;
                self.skip(ctx, &records[rows[j] as usize], &format!("key: {msg}"));
            }
            arrays
        };

        // Values.
        let (value_arrays, errors) = decode_present(self.value.as_mut(), &values)?;
        for (j, msg) in errors {
            ok[j] = false;
            self.skip(ctx, &records[rows[j] as usize], &format!("value: {msg}"));
        }

        // Assemble user columns in schema order.
        let n = rows.len();
        let mut columns: Vec<ArrayRef> = vec![new_null_array(&DataType::Null, 0); self.user_columns];
        for (k, &c) in self.key_cols.iter().enumerate() {
            columns[c] = key_arrays[k].clone();
        }
        for (k, &c) in self.value_cols.iter().enumerate() {
            columns[c] = value_arrays[k].clone();
        }
        for (c, role) in &self.header_cols {
            columns[*c] = headers_column(records, &rows, role);
        }
        // Event time.
        let rowtime: ArrayRef = match &self.time {
            TimeSource::Record => {
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|&i| records[i as usize].timestamp)))
            }
            TimeSource::Column { index, format } => {
                let t = event_times(&columns[*index], format.as_deref());
                for j in 0..n {
                    if ok[j] && t.is_null(j) && values[j].is_some() {
                        ok[j] = false;
                        let r = &records[rows[j] as usize];
                        self.skip(ctx, r, "the TIMESTAMP column is null or cannot be read as a timestamp");
                    }
                }
                // Tombstones have no value to take time from: use the record timestamp.
                let rec: Vec<i64> = rows.iter().map(|&i| records[i as usize].timestamp).collect();
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|j| if t.is_valid(j) { t.value(j) } else { rec[j] }),
                ))
            }
        };
        // The source's event time moves with the rows that decoded (see brook_streams::time).
        let times = rowtime.as_primitive::<Int64Type>();
        if let Some(max) = (0..n).filter(|&j| ok[j]).map(|j| times.value(j)).max() {
            ctx.observe_time(max);
        }
        columns.push(rowtime);
        columns.push(Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|&i| records[i as usize].partition),
        )));
        columns
            .push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|&i| records[i as usize].offset))));
        if self.window_size.is_some() {
            columns.push(Arc::new(Int64Array::from_iter_values(windows.iter().map(|w| w.0))));
            columns.push(Arc::new(Int64Array::from_iter_values(windows.iter().map(|w| w.1))));
        }
        if self.is_table {
            columns.push(Arc::new(BooleanArray::from_iter(values.iter().map(|v| Some(v.is_none())))));
        }
        let mut batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        if ok.iter().any(|o| !o) {
            let keep = UInt32Array::from_iter_values((0..n as u32).filter(|&j| ok[j as usize]));
            let cols = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &keep, None))
                .collect::<Result<Vec<_>, _>>()?;
            batch = RecordBatch::try_new(self.schema.clone(), cols)?;
        }
        Ok((batch.num_rows() > 0).then_some(batch))
    }
}

/// Places decoded columns at their rows (`position[row]` = index in the decoded arrays, or
/// `None` for a null).
/// A payload slot that did not decode, and why.
type SlotError = (usize, String);

/// Decodes the payloads that are present (a null key or value is not decoded): returns one
/// array per column with a row per payload slot (null where absent or undecodable), and the
/// slots that failed with why.
fn decode_present(
    decoder: &mut dyn PayloadDecoder,
    payloads: &[Option<&[u8]>],
) -> Result<(Vec<ArrayRef>, Vec<SlotError>)> {
    let present: Vec<usize> = (0..payloads.len()).filter(|&j| payloads[j].is_some()).collect();
    let given: Vec<&[u8]> = payloads.iter().filter_map(|p| *p).collect();
    let d = decoder.decode(&given);
    let mut position: Vec<Option<u32>> = vec![None; payloads.len()];
    let decoded_rows: Vec<u32> = d.rows.clone().unwrap_or_else(|| (0..given.len() as u32).collect());
    for (k, &p) in decoded_rows.iter().enumerate() {
        position[present[p as usize]] = Some(k as u32);
    }
    let errors = d.errors.iter().map(|(p, msg)| (present[*p as usize], msg.clone())).collect();
    let arrays = scatter(&d.columns, &position, d.all_ok() && present.len() == payloads.len())?;
    Ok((arrays, errors))
}

fn scatter(columns: &[ArrayRef], position: &[Option<u32>], identity: bool) -> Result<Vec<ArrayRef>> {
    if identity {
        return Ok(columns.to_vec());
    }
    let idx = UInt32Array::from(position.to_vec());
    Ok(columns.iter().map(|c| take(c.as_ref(), &idx, None)).collect::<Result<Vec<_>, _>>()?)
}

/// `HEADERS` (all headers) or `HEADER('k')` (the last header with key k).
fn headers_column(records: &[InputRecord], rows: &[u32], role: &ColumnRole) -> ArrayRef {
    match role {
        ColumnRole::Header(k) => {
            let mut b = BinaryBuilder::new();
            for &i in rows {
                let h = records[i as usize].headers.iter().rev().find(|h| h.key.as_ref() == k.as_bytes());
                match h.and_then(|h| h.value.as_deref()) {
                    Some(v) => b.append_value(v),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        _ => {
            let fields =
                vec![Field::new("KEY", DataType::Utf8, true), Field::new("VALUE", DataType::Binary, true)];
            let sb = StructBuilder::new(
                fields.clone(),
                vec![Box::new(StringBuilder::new()), Box::new(BinaryBuilder::new())],
            );
            let mut b = ListBuilder::new(sb).with_field(Arc::new(Field::new(
                "item",
                DataType::Struct(fields.into()),
                true,
            )));
            for &i in rows {
                for h in &records[i as usize].headers {
                    let s = b.values();
                    if let Some(f) = s.field_builder::<StringBuilder>(0) {
                        f.append_value(String::from_utf8_lossy(&h.key));
                    }
                    if let Some(f) = s.field_builder::<BinaryBuilder>(1) {
                        match &h.value {
                            Some(v) => f.append_value(v),
                            None => f.append_null(),
                        }
                    }
                    s.append(true);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
    }
}

/// Event times (epoch ms) from a timestamp column: BIGINT, TIMESTAMP, or STRING in a
/// `java.time`-style pattern.
fn event_times(col: &ArrayRef, format: Option<&str>) -> Int64Array {
    match (col.data_type(), format) {
        (DataType::Utf8, Some(f)) => {
            let pattern = java_to_chrono(f);
            Int64Array::from_iter(
                col.as_string::<i32>().iter().map(|v| v.and_then(|s| parse_time(s, &pattern))),
            )
        }
        _ => match cast(col, &DataType::Int64) {
            Ok(a) => a.as_primitive::<Int64Type>().clone(),
            Err(_) => Int64Array::from(vec![None; col.len()]),
        },
    }
}

fn parse_time(s: &str, pattern: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_str(s, pattern) {
        return Some(dt.timestamp_millis());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, pattern) {
        return Some(dt.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, pattern)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

/// Translates the common `java.time.format.DateTimeFormatter` letters to chrono's.
pub(crate) fn java_to_chrono(p: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let piece: String = match (c, n) {
            ('\'', _) => {
                // Quoted literal text.
                let mut j = i + 1;
                let mut lit = String::new();
                while j < chars.len() && chars[j] != '\'' {
                    lit.push(chars[j]);
                    j += 1;
                }
                i = j + 1;
                out.push_str(&lit.replace('%', "%%"));
                continue;
            }
            ('y' | 'u', 2) => "%y".into(),
            ('y' | 'u', _) => "%Y".into(),
            ('M', 1 | 2) => "%m".into(),
            ('M', 3) => "%b".into(),
            ('M', _) => "%B".into(),
            ('d', _) => "%d".into(),
            ('H', _) => "%H".into(),
            ('h', _) => "%I".into(),
            ('m', _) => "%M".into(),
            ('s', _) => "%S".into(),
            ('S', _) => format!("%{n}f"),
            ('a', _) => "%p".into(),
            ('X' | 'x', 1) => "%#z".into(),
            ('X' | 'x', 2) | ('Z', _) => "%z".into(),
            ('X' | 'x', _) => "%:z".into(),
            ('%', _) => "%%".repeat(n),
            (other, _) => other.to_string().repeat(n),
        };
        out.push_str(&piece);
        i += n;
    }
    out
}
