//! Parquet output files: one file per roll, with the schema inferred from its records.
//!
//! Columns: `_partition` (int32), `_offset` (int64), `_timestamp` (timestamp, ms), `_key`
//! (string, the key as text), `_tombstone` (boolean), then the fields of the record values
//! when every value in the file is a JSON object (nested objects become structs, arrays
//! lists; a field with mixed types becomes a string). Otherwise — values that are not JSON
//! objects, or field names that clash with the metadata columns — the value is kept whole as
//! text in a `_value` column. No record is ever dropped for not fitting a schema.
//!
//! Rows are buffered in memory until the file rolls (`roll_bytes` counts buffered value bytes),
//! then written as Snappy-compressed row groups.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use arrow::json::reader::{ReaderBuilder, infer_json_schema_from_iterator};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use brook_broker::Record;

use super::PartFile;
use crate::error::{Error, Result};

const META_COLUMNS: [&str; 6] = ["_partition", "_offset", "_timestamp", "_key", "_tombstone", "_value"];
const ROWS_PER_BATCH: usize = 8192;

struct Row {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<String>,
    /// The value parsed as JSON, if it is JSON.
    json: Option<Value>,
    /// The value as text (for the `_value` fallback).
    text: Option<String>,
}

/// A Parquet file being assembled.
pub struct ParquetFile {
    connector: String,
    path: PathBuf,
    partition: i32,
    rows: Vec<Row>,
    size: u64,
}

impl ParquetFile {
    /// A file of partition `partition`'s records, written to `path` when finished.
    pub fn new(connector: &str, path: &Path, partition: i32) -> Self {
        ParquetFile {
            connector: connector.to_string(),
            path: path.to_path_buf(),
            partition,
            rows: Vec::new(),
            size: 0,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Sink {
            connector: self.connector.clone(),
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// The value columns: inferred fields when every value is an object, else `None`.
    fn value_schema(&self) -> Option<Schema> {
        let objects: Vec<&Value> = self.rows.iter().filter_map(|r| r.json.as_ref()).collect();
        let all_objects =
            self.rows.iter().all(|r| r.text.is_none() || r.json.as_ref().is_some_and(Value::is_object));
        if !all_objects || objects.is_empty() {
            return None;
        }
        let schema = infer_json_schema_from_iterator(objects.into_iter().map(Ok)).ok()?;
        let clash = schema.fields().iter().any(|f| META_COLUMNS.contains(&f.name().as_str()));
        let empty_struct = schema.fields().iter().any(|f| has_empty_struct(f.data_type()));
        if clash || empty_struct || schema.fields().is_empty() {
            return None;
        }
        Some(Schema::new(schema.fields().iter().map(|f| Arc::new(null_to_utf8(f))).collect::<Fields>()))
    }

    fn batches(&self) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
        let value_schema = self.value_schema();
        let mut fields = vec![
            Field::new("_partition", DataType::Int32, false),
            Field::new("_offset", DataType::Int64, false),
            Field::new("_timestamp", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("_key", DataType::Utf8, true),
            Field::new("_tombstone", DataType::Boolean, false),
        ];
        match &value_schema {
            Some(s) => fields.extend(s.fields().iter().map(|f| f.as_ref().clone())),
            None => fields.push(Field::new("_value", DataType::Utf8, true)),
        }
        let schema = Arc::new(Schema::new(fields));
        let mut decoder = match &value_schema {
            Some(s) => Some(
                ReaderBuilder::new(Arc::new(s.clone()))
                    .with_coerce_primitive(true)
                    .build_decoder()
                    .map_err(|e| self.error(e))?,
            ),
            None => None,
        };
        let mut batches = Vec::new();
        let empty = Value::Object(Map::new());
        for chunk in self.rows.chunks(ROWS_PER_BATCH) {
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(Int32Array::from_iter_values(chunk.iter().map(|r| r.partition))),
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.offset))),
                Arc::new(TimestampMillisecondArray::from_iter_values(chunk.iter().map(|r| r.timestamp))),
                Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.key.as_deref()))),
                Arc::new(BooleanArray::from_iter(chunk.iter().map(|r| Some(r.text.is_none())))),
            ];
            match decoder.as_mut() {
                Some(d) => {
                    let values: Vec<&Value> =
                        chunk.iter().map(|r| r.json.as_ref().unwrap_or(&empty)).collect();
                    d.serialize(&values).map_err(|e| self.error(e))?;
                    let decoded = d.flush().map_err(|e| self.error(e))?;
                    match decoded {
                        Some(b) if b.num_rows() == chunk.len() => columns.extend(b.columns().iter().cloned()),
                        _ => return Err(self.error("decoded a different number of rows than buffered")),
                    }
                }
                None => {
                    columns.push(Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.text.as_deref()))))
                }
            }
            batches.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| self.error(e))?);
        }
        Ok((schema, batches))
    }

    fn write_file(&self, schema: Arc<Schema>, batches: &[RecordBatch]) -> Result<()> {
        let file = File::create(&self.path).map_err(Error::io("creating an output file", &self.path))?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| self.error(e))?;
        for b in batches {
            writer.write(b).map_err(|e| self.error(e))?;
        }
        writer.finish().map_err(|e| self.error(e))?;
        writer.inner_mut().sync_all().map_err(|e| self.error(e))
    }
}

impl PartFile for ParquetFile {
    fn write(&mut self, r: &Record) -> Result<()> {
        let text = r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
        let json = r.value.as_ref().and_then(|v| serde_json::from_slice::<Value>(v).ok());
        self.size += r.value.as_ref().map_or(0, |v| v.len()) as u64 + 32;
        self.rows.push(Row {
            partition: self.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
            json,
            text,
        });
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn rows(&self) -> u64 {
        self.rows.len() as u64
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let (schema, batches) = match self.batches() {
            Ok(b) => b,
            Err(e) => {
                // The inferred schema did not fit after all: keep every value as text.
                tracing::warn!(file = %self.path.display(), error = %e, "writing values as text");
                let mut plain = ParquetFile::new(&self.connector, &self.path, self.partition);
                plain.rows = self.rows.into_iter().map(|r| Row { json: None, ..r }).collect();
                let (s, b) = plain.batches()?;
                return plain.write_file(s, &b);
            }
        };
        self.write_file(schema, &batches)
    }
}

fn has_empty_struct(t: &DataType) -> bool {
    match t {
        DataType::Struct(fields) => {
            fields.is_empty() || fields.iter().any(|f| has_empty_struct(f.data_type()))
        }
        DataType::List(f) | DataType::LargeList(f) => has_empty_struct(f.data_type()),
        _ => false,
    }
}

/// Fields that were always null have type Null, which Parquet cannot store: make them strings.
fn null_to_utf8(f: &Field) -> Field {
    let t = match f.data_type() {
        DataType::Null => DataType::Utf8,
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|c| Arc::new(null_to_utf8(c))).collect())
        }
        DataType::List(item) => DataType::List(Arc::new(null_to_utf8(item))),
        other => other.clone(),
    };
    Field::new(f.name(), t, true)
}
