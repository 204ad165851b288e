//! Sinks: batches → output records.
//!
//! * [`TopicSink`]: a persistent query's output topic, with ksqlDB's conventions — key
//!   columns in the key (windowed keys carry the window), value columns in the value, header
//!   columns as record headers, `ROWTIME` as the record timestamp, tombstones as null values.
//! * [`CallbackSink`]: rows of a push query, as JSON arrays, to a callback registered with
//!   the runtime.
//! * [`RepartitionSink`]: whole rows to an internal topic, keyed by the new key.
//! * [`DiscardSink`]: counts rows and drops them (benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use brook_streams::record::{Header, OutputRecord};
use brook_streams::task::TaskContext;
use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::row::RowConverter;

use super::Operator;
use super::stateless::eval;
use crate::catalog::ColumnRole;
use crate::error::{Error, Result};
use brook_streams::windowed_key;

use crate::format::{JsonRowEncoder, PayloadEncoder};
use crate::planner::expr::PhysExpr;

/// Writes rows to a topic.
pub(crate) struct TopicSink {
    pub topic: String,
    pub key_cols: Vec<usize>,
    pub value_cols: Vec<usize>,
    pub header_cols: Vec<(usize, ColumnRole)>,
    pub key: Arc<dyn PayloadEncoder>,
    pub value: Arc<dyn PayloadEncoder>,
    pub rowtime: usize,
    /// `(WINDOWSTART, WINDOWEND, session)` columns of windowed output.
    pub window: Option<(usize, usize, bool)>,
    pub tombstone: Option<usize>,
}

/// Record headers from the header columns of one row.
fn headers_of(batch: &RecordBatch, cols: &[(usize, ColumnRole)], row: usize) -> Vec<Header> {
    let mut out = Vec::new();
    for (c, role) in cols {
        let a = batch.column(*c);
        if a.is_null(row) {
            continue;
        }
        match role {
            ColumnRole::Header(k) => out.push(Header {
                key: Bytes::copy_from_slice(k.as_bytes()),
                value: Some(Bytes::copy_from_slice(a.as_binary::<i32>().value(row))),
            }),
            _ => {
                let list = a.as_list::<i32>().value(row);
                let s = list.as_struct();
                let (keys, values) = (s.column(0).as_string::<i32>(), s.column(1).as_binary::<i32>());
                for i in 0..s.len() {
                    if keys.is_null(i) {
                        continue;
                    }
                    out.push(Header {
                        key: Bytes::copy_from_slice(keys.value(i).as_bytes()),
                        value: (!values.is_null(i)).then(|| Bytes::copy_from_slice(values.value(i))),
                    });
                }
            }
        }
    }
    out
}

impl Operator for TopicSink {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let n = batch.num_rows();
        let pick = |idx: &[usize]| idx.iter().map(|&i| batch.column(i).clone()).collect::<Vec<ArrayRef>>();
        let mut keys = if self.key_cols.is_empty() {
            vec![None; n]
        } else {
            self.key.encode(&pick(&self.key_cols), n)?
        };
        let values = self.value.encode(&pick(&self.value_cols), n)?;
        let times = batch.column(self.rowtime).as_primitive::<Int64Type>();
        let dead = self.tombstone.map(|t| batch.column(t).as_boolean().clone());
        let windows = self.window.map(|(s, e, session)| {
            (
                batch.column(s).as_primitive::<Int64Type>().clone(),
                batch.column(e).as_primitive::<Int64Type>().clone(),
                session,
            )
        });
        for (row, key) in keys.iter_mut().enumerate() {
            if let Some((s, e, session)) = &windows {
                let mut k = key.as_deref().map(<[u8]>::to_vec).unwrap_or_default();
                windowed_key::append(&mut k, s.value(row), e.value(row), *session);
                *key = Some(Bytes::from(k));
            }
            let tombstone = dead.as_ref().is_some_and(|d| d.value(row));
            let value = if tombstone {
                None
            } else {
                // A row with no value columns still needs a value, or it would read as a delete.
                Some(values[row].clone().unwrap_or_else(|| Bytes::from_static(b"{}")))
            };
            ctx.send(OutputRecord {
                topic: self.topic.clone(),
                partition: None,
                key: key.take(),
                value,
                timestamp: times.value(row),
                headers: if tombstone { Vec::new() } else { headers_of(&batch, &self.header_cols, row) },
            });
        }
        Ok(())
    }
}

/// Sends push-query rows to a callback sink as JSON arrays.
pub(crate) struct CallbackSink {
    pub name: String,
    pub columns: Vec<usize>,
    pub rowtime: usize,
    pub tombstone: Option<usize>,
}

impl Operator for CallbackSink {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let cols: Vec<ArrayRef> = self.columns.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = JsonRowEncoder::encode(&cols, batch.num_rows())?;
        let times = batch.column(self.rowtime).as_primitive::<Int64Type>();
        let dead = self.tombstone.map(|t| batch.column(t).as_boolean().clone());
        for (i, row) in rows.into_iter().enumerate() {
            if dead.as_ref().is_some_and(|d| d.value(i)) {
                continue;
            }
            ctx.send(OutputRecord {
                topic: self.name.clone(),
                partition: None,
                key: None,
                value: Some(row),
                timestamp: times.value(i),
                headers: Vec::new(),
            });
        }
        Ok(())
    }
}

/// Writes whole rows (arrow-row encoded) to an internal topic, keyed by the new key.
pub(crate) struct RepartitionSink {
    pub topic: String,
    pub keys: Vec<PhysExpr>,
    pub key: Arc<dyn PayloadEncoder>,
    pub rows: RowConverter,
    pub rowtime: usize,
}

impl Operator for RepartitionSink {
    fn process(&mut self, _port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        let n = batch.num_rows();
        let key_cols = self
            .keys
            .iter()
            .map(|k| eval(k, &batch).map_err(Error::Execution))
            .collect::<Result<Vec<_>>>()?;
        let keys = self.key.encode(&key_cols, n)?;
        let rows = self.rows.convert_columns(batch.columns())?;
        let times = batch.column(self.rowtime).as_primitive::<Int64Type>();
        for (i, key) in keys.into_iter().enumerate() {
            ctx.send(OutputRecord {
                topic: self.topic.clone(),
                partition: None,
                key,
                value: Some(Bytes::copy_from_slice(rows.row(i).as_ref())),
                timestamp: times.value(i),
                headers: Vec::new(),
            });
        }
        Ok(())
    }
}

/// Counts rows and drops them: nothing is encoded or sent.
pub(crate) struct DiscardSink {
    pub rows: Arc<AtomicU64>,
}

impl Operator for DiscardSink {
    fn process(&mut self, _port: usize, batch: RecordBatch, _ctx: &mut TaskContext) -> Result<()> {
        self.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        Ok(())
    }
}
