//! Reading and writing data directly: `INSERT … VALUES`, pull queries, `PRINT`.
//!
//! Pull queries on tables read a [`Materialized`] view of the table's topic kept by the
//! engine and caught up to the end of the topic before each query (see the module docs of
//! [`super`] for why). Pull queries on streams scan the stream's topic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brook_broker::{Header, NewRecord};
use brook_client::Cluster;
use brook_streams::record::InputRecord;
use brook_streams::task::{TaskContext, TaskId};
use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::arrow::compute::{filter_record_batch, prep_null_mask_filter};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::DFSchema;
use parking_lot::Mutex;
use sqlparser::ast::Expr as SqlExpr;

use super::result::{ColumnInfo, PushEvent, PushQuery, RowSet, offer};
use super::{Engine, State, StatementResult, message};
use crate::catalog::{ColumnRole, SourceDef};
use crate::error::{Error, Result};
use crate::format::{Codec, Format, JsonRowEncoder, debezium};
use crate::operator::log::ProcessingLog;
use crate::parser::{Print, Query};
use crate::planner::Planner;
use crate::planner::plan::{PlanNode, ScanNode};
use crate::planner::schema::{ROWTIME, RelSchema};
use crate::types::SqlType;

/// A record of a materialized table.
#[derive(Debug, Clone)]
struct Stored {
    value: Bytes,
    timestamp: i64,
    partition: i32,
    offset: i64,
    headers: Vec<Header>,
}

/// The latest record per key of a table's topic.
#[derive(Debug, Default)]
pub(crate) struct Materialized {
    positions: Vec<i64>,
    rows: BTreeMap<Bytes, Stored>,
}

impl Materialized {
    /// Applies everything appended to the topic of `def` since the last call. Change events
    /// without a record key (`DEBEZIUM_JSON`) are keyed by the table's key columns, read from
    /// their rows ([`debezium::keyed_by_rows`]).
    fn catch_up(&mut self, cluster: &dyn Cluster, def: &SourceDef) -> Result<()> {
        let topic = def.topic.as_str();
        let Some(n) = cluster.partitions(topic)? else { return Ok(()) };
        let row_key_columns: Vec<String> = if def.value_format == Format::DebeziumJson {
            def.columns.iter().filter(|c| c.role == ColumnRole::Key).map(|c| c.name.clone()).collect()
        } else {
            Vec::new()
        };
        self.positions.resize(n as usize, 0);
        let rows = &mut self.rows;
        for (p, pos) in self.positions.iter_mut().enumerate() {
            *pos = cluster.scan(topic, p as i32, *pos, &mut |r| {
                let stored = |value: &Bytes| Stored {
                    value: value.clone(),
                    timestamp: r.timestamp,
                    partition: p as i32,
                    offset: r.offset,
                    headers: r.headers.clone(),
                };
                match (&r.key, &r.value) {
                    (Some(k), None) => {
                        rows.remove(k);
                    }
                    (Some(k), Some(v)) => {
                        rows.insert(k.clone(), stored(v));
                    }
                    (None, Some(v)) if !row_key_columns.is_empty() => {
                        // Undecodable events are left out here as the source decoder leaves them out.
                        let changed = debezium::read_change(v)
                            .and_then(|c| debezium::keyed_by_rows(&c, &row_key_columns))
                            .unwrap_or_default();
                        for (key, row) in changed {
                            match row {
                                None => rows.remove(&key),
                                Some(_) => rows.insert(key, stored(v)),
                            };
                        }
                    }
                    (None, _) => {}
                }
            })?;
        }
        Ok(())
    }
}

/// Every record of a topic, partition by partition.
fn scan_topic(cluster: &dyn Cluster, topic: &str) -> Result<Vec<InputRecord>> {
    let Some(n) = cluster.partitions(topic)? else { return Ok(Vec::new()) };
    let name: Arc<str> = Arc::from(topic);
    let mut out = Vec::new();
    for p in 0..n {
        cluster.scan(topic, p, 0, &mut |r| out.push(InputRecord::from_broker(name.clone(), p, r.clone())))?;
    }
    Ok(out)
}

/// One row batch with no columns, to evaluate constant expressions.
fn unit_batch() -> Result<RecordBatch> {
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?)
}

fn rows_json(columns: &[ArrayRef], rows: usize) -> Result<Vec<serde_json::Value>> {
    JsonRowEncoder::encode(columns, rows)?
        .into_iter()
        .map(|b| serde_json::from_slice(&b).map_err(|e| Error::Internal(format!("row encoding: {e}"))))
        .collect()
}

impl Engine {
    pub(crate) fn insert_values(
        &self,
        st: &mut State,
        target: &str,
        columns: Option<&[String]>,
        values: &[SqlExpr],
    ) -> Result<StatementResult> {
        let def = st.catalog.source(target)?;
        if def.is_source {
            return Err(Error::plan(format!(
                "cannot insert into {target}: it was created with CREATE SOURCE and is read-only"
            )));
        }
        if def.window.is_some() {
            return Err(Error::plan(format!("cannot insert into {target}: its keys are windowed")));
        }
        if def.value_format == crate::format::Format::DebeziumJson {
            return Err(Error::plan(format!(
                "cannot insert into {target}: it reads Debezium change events (VALUE_FORMAT='DEBEZIUM_JSON'), \
                 which come from the database it captures; change the database, or write change events \
                 to topic {} through a connector",
                def.topic
            )));
        }
        let names: Vec<String> = match columns {
            Some(c) => c.to_vec(),
            None => def.columns.iter().map(|c| c.name.clone()).collect(),
        };
        if names.len() != values.len() {
            return Err(Error::plan(format!(
                "INSERT INTO {target}: {} column(s) but {} value(s)",
                names.len(),
                values.len()
            )));
        }
        let unit = unit_batch()?;
        let empty = DFSchema::empty();
        let mut given: BTreeMap<String, ArrayRef> = BTreeMap::new();
        let mut rowtime = None;
        for (name, v) in names.iter().zip(values) {
            let ty = if name == ROWTIME {
                SqlType::Bigint
            } else {
                def.column(name)
                    .ok_or_else(|| {
                        Error::plan(format!("INSERT INTO {target}: {target} has no column {name}"))
                    })?
                    .ty
                    .clone()
            };
            let expr = self.exprs.plan(v, &empty)?;
            let a = expr.evaluate(&unit)?.into_array(1)?;
            let options = datafusion::arrow::compute::CastOptions { safe: false, ..Default::default() };
            let a =
                datafusion::arrow::compute::cast_with_options(&a, &ty.to_arrow(), &options).map_err(|e| {
                    Error::plan(format!(
                        "INSERT INTO {target}: value {} for {name} is not a {ty}: {e}",
                        crate::planner::expr::display_sql(v)
                    ))
                })?;
            if given.insert(name.clone(), a.clone()).is_some() {
                return Err(Error::plan(format!("INSERT INTO {target}: column {name} is given twice")));
            }
            if name == ROWTIME {
                rowtime = Some(a);
            }
        }
        let column = |c: &crate::catalog::Column| {
            given.get(&c.name).cloned().unwrap_or_else(|| new_null_array(&c.ty.to_arrow(), 1))
        };
        let keys: Vec<_> = def.key_columns().collect();
        let key_arrays: Vec<ArrayRef> = keys.iter().map(|c| column(c)).collect();
        if def.is_table() && key_arrays.iter().any(|a| a.is_null(0)) {
            return Err(Error::plan(format!("INSERT INTO {target}: the primary key cannot be null")));
        }
        let values_cols: Vec<_> = def.value_columns().collect();
        let value_arrays: Vec<ArrayRef> = values_cols.iter().map(|c| column(c)).collect();
        let key_codec = Codec {
            format: def.key_format.clone(),
            columns: keys.iter().map(|c| (c.name.clone(), c.ty.clone())).collect(),
            wrap_single: false,
        };
        let value_codec = Codec {
            format: def.value_format.clone(),
            columns: values_cols.iter().map(|c| (c.name.clone(), c.ty.clone())).collect(),
            wrap_single: def.wrap_single_value,
        };
        let key =
            if keys.is_empty() { None } else { key_codec.encoder()?.encode(&key_arrays, 1)?.pop().flatten() };
        // A null single value (KAFKA format, unwrapped JSON) is written as a null record value:
        // a tombstone for tables.
        let value = value_codec.encoder()?.encode(&value_arrays, 1)?.pop().flatten();
        let mut headers = Vec::new();
        for c in def.columns.iter().filter(|c| c.role.is_header()) {
            let Some(a) = given.get(&c.name) else { continue };
            if a.is_null(0) {
                continue;
            }
            match &c.role {
                ColumnRole::Header(k) => {
                    use datafusion::arrow::array::AsArray;
                    headers.push(Header {
                        key: Bytes::copy_from_slice(k.as_bytes()),
                        value: Some(Bytes::copy_from_slice(a.as_binary::<i32>().value(0))),
                    });
                }
                _ => {
                    use datafusion::arrow::array::{Array, AsArray};
                    let list = a.as_list::<i32>().value(0);
                    let s = list.as_struct();
                    for i in 0..s.len() {
                        let k = s.column(0).as_string::<i32>();
                        let v = s.column(1).as_binary::<i32>();
                        if k.is_null(i) {
                            continue;
                        }
                        headers.push(Header {
                            key: Bytes::copy_from_slice(k.value(i).as_bytes()),
                            value: (!v.is_null(i)).then(|| Bytes::copy_from_slice(v.value(i))),
                        });
                    }
                }
            }
        }
        let timestamp = match rowtime {
            Some(a) => {
                use datafusion::arrow::array::AsArray;
                a.as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0)
            }
            None => brook_broker::util::now_ms(),
        };
        st.executor
            .produce(&def.topic, vec![NewRecord { key, value, headers, timestamp: Some(timestamp) }])?;
        Ok(message(format!("Inserted 1 row into {target}")))
    }

    pub(crate) fn pull_query(&self, st: &mut State, q: &Query) -> Result<StatementResult> {
        let unsupported = [
            (!q.joins.is_empty(), "JOIN"),
            (q.window.is_some(), "WINDOW"),
            (!q.group_by.is_empty(), "GROUP BY"),
            (!q.partition_by.is_empty(), "PARTITION BY"),
            (q.having.is_some(), "HAVING"),
        ];
        if let Some((_, clause)) = unsupported.iter().find(|(bad, _)| *bad) {
            return Err(Error::plan(format!(
                "pull queries (SELECT without EMIT) do not support {clause}; add EMIT CHANGES for a push query, or CREATE TABLE AS SELECT to materialize it"
            )));
        }
        let def = st.catalog.source(&q.from.name)?;
        let records: Vec<InputRecord> = if def.is_table() {
            let m = st.materialized.entry(def.name.clone()).or_default();
            m.catch_up(self.cluster.as_ref(), &def)?;
            let topic: Arc<str> = Arc::from(def.topic.as_str());
            m.rows
                .iter()
                .map(|(k, s)| InputRecord {
                    topic: topic.clone(),
                    partition: s.partition,
                    offset: s.offset,
                    timestamp: s.timestamp,
                    key: Some(k.clone()),
                    value: Some(s.value.clone()),
                    headers: s.headers.clone(),
                })
                .collect()
        } else {
            scan_topic(self.cluster.as_ref(), &def.topic)?
        };
        let schema = RelSchema::of_source(&def, q.from.qualifier());
        let parts = |t: &str| self.partitions(t);
        let planner = Planner { catalog: &st.catalog, exprs: &self.exprs, partitions: &parts, id: "pull" };
        let mut node = PlanNode::Scan(ScanNode { source: def.clone(), schema: schema.clone() });
        if let Some(w) = &q.selection {
            node = planner.filter(node, w, "WHERE")?;
        }
        let df = schema.df_schema()?;
        let items = planner.items(&q.projection, &schema, &df)?;
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        let arrow = schema.arrow();
        for it in &items {
            if crate::planner::has_aggregate(&it.expr) {
                return Err(Error::plan(
                    "pull queries cannot aggregate; use CREATE TABLE … AS SELECT … GROUP BY and query that table",
                ));
            }
            let p = self.exprs.physical(&it.expr, &df)?;
            columns
                .push(ColumnInfo { name: it.name.clone(), ty: SqlType::from_arrow(&p.data_type(&arrow)?)? });
            exprs.push(p);
        }
        let batch = decode_all(&def, &schema, &records)?;
        let mut rows = Vec::new();
        if let Some(mut batch) = batch {
            // A change event that deletes the row (DEBEZIUM_JSON) is the key's latest record
            // until its tombstone follows: it decodes as a tombstone row, which is no row.
            if let Some(t) = schema.tombstone() {
                let live = datafusion::arrow::compute::not(datafusion::arrow::array::AsArray::as_boolean(
                    batch.column(t),
                ))?;
                batch = filter_record_batch(&batch, &live)?;
            }
            if let PlanNode::Filter(f) = &node {
                let mask = f.predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
                let mask = datafusion::arrow::array::AsArray::as_boolean(&mask);
                let mask = if mask.null_count() > 0 { prep_null_mask_filter(mask) } else { mask.clone() };
                batch = filter_record_batch(&batch, &mask)?;
            }
            if let Some(limit) = q.limit {
                batch = batch.slice(0, batch.num_rows().min(limit as usize));
            }
            let mut cols = Vec::with_capacity(exprs.len());
            for (e, c) in exprs.iter().zip(&columns) {
                let a = e.evaluate(&batch)?.into_array(batch.num_rows())?;
                cols.push(crate::types::to_canonical(&a, &c.ty)?);
            }
            rows = rows_json(&cols, batch.num_rows())?;
        }
        Ok(StatementResult::Rows(RowSet { columns, rows }))
    }

    pub(crate) fn print(&self, p: &Print) -> Result<StatementResult> {
        let n = self.partitions(&p.topic).ok_or_else(|| {
            Error::Catalog(format!(
                "topic '{}' does not exist; SHOW TOPICS; lists the topics (names are case-sensitive)",
                p.topic
            ))
        })?;
        let columns = vec![
            ColumnInfo { name: "ROWTIME".into(), ty: SqlType::Bigint },
            ColumnInfo { name: "PARTITION".into(), ty: SqlType::Int },
            ColumnInfo { name: "OFFSET".into(), ty: SqlType::Bigint },
            ColumnInfo { name: "KEY".into(), ty: SqlType::String },
            ColumnInfo { name: "VALUE".into(), ty: SqlType::String },
        ];
        let interval = p.interval.unwrap_or(1).max(1);
        let limit = p.limit;
        let mut positions = Vec::with_capacity(n as usize);
        for part in 0..n {
            let (start, end) = self.cluster.offsets(&p.topic, part)?;
            positions.push(if p.from_beginning { start } else { end });
        }
        if self.deterministic {
            let mut printer = Printer { interval, seen: 0, sent: 0, limit };
            let rows = printer.poll(self.cluster.as_ref(), &p.topic, &mut positions)?;
            return Ok(StatementResult::Rows(super::result::RowSet { columns, rows }));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(self.push_buffer_rows());
        let stop = Arc::new(AtomicBool::new(false));
        let offered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (cluster, name, s, count) =
            (self.cluster.clone(), p.topic.clone(), stop.clone(), offered.clone());
        std::thread::Builder::new()
            .name(format!("print-{name}"))
            .spawn(move || {
                let mut printer = Printer { interval, seen: 0, sent: 0, limit };
                while !s.load(Ordering::Acquire) {
                    match printer.poll(cluster.as_ref(), &name, &mut positions) {
                        Ok(rows) => {
                            let idle = rows.is_empty();
                            for r in rows {
                                if !offer(&tx, PushEvent::Row(r), &s) {
                                    return;
                                }
                                count.fetch_add(1, Ordering::AcqRel);
                            }
                            if printer.done() {
                                offer(&tx, PushEvent::End(None), &s);
                                return;
                            }
                            if idle {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                        Err(e) => {
                            offer(&tx, PushEvent::End(Some(e.to_string())), &s);
                            return;
                        }
                    }
                }
            })
            .map_err(|source| Error::Io { context: "starting PRINT".into(), source })?;
        let cancel: super::result::Canceller = Box::new(move || stop.store(true, Ordering::Release));
        Ok(StatementResult::Push(PushQuery {
            id: format!("print_{}", self.next_transient_id()),
            columns,
            rows: rx,
            offered,
            cancel: Arc::new(Mutex::new(Some(cancel))),
            cancelled: Arc::new(AtomicBool::new(false)),
        }))
    }
}

/// Decodes records of a source into one batch (bad records are skipped).
fn decode_all(
    def: &Arc<SourceDef>,
    schema: &RelSchema,
    records: &[InputRecord],
) -> Result<Option<RecordBatch>> {
    let log = ProcessingLog { query_id: Arc::from("pull"), topic: Arc::from("") };
    let mut decoder = crate::compile::source_decoder(def, schema, log)?;
    let mut ctx = TaskContext::new(TaskId { subtopology: 0, partition: 0 });
    decoder.decode(records, &mut ctx)
}

/// Formats records for PRINT.
struct Printer {
    interval: u64,
    seen: u64,
    sent: u64,
    limit: Option<u64>,
}

impl Printer {
    fn done(&self) -> bool {
        self.limit.is_some_and(|l| self.sent >= l)
    }

    fn poll(
        &mut self,
        cluster: &dyn Cluster,
        topic: &str,
        positions: &mut [i64],
    ) -> Result<Vec<serde_json::Value>> {
        let mut rows = Vec::new();
        for (p, pos) in positions.iter_mut().enumerate() {
            if self.done() {
                break;
            }
            *pos = cluster.scan(topic, p as i32, *pos, &mut |r| {
                self.seen += 1;
                if !(self.seen - 1).is_multiple_of(self.interval) || self.done() {
                    return;
                }
                self.sent += 1;
                rows.push(serde_json::json!([
                    r.timestamp,
                    p,
                    r.offset,
                    show_bytes(r.key.as_deref()),
                    show_bytes(r.value.as_deref())
                ]));
            })?;
        }
        Ok(rows)
    }
}

/// Bytes as text when they are printable UTF-8, else as a number (4 or 8 bytes) or hex.
pub(crate) fn show_bytes(b: Option<&[u8]>) -> serde_json::Value {
    let Some(b) = b else { return serde_json::Value::Null };
    if let Ok(s) = std::str::from_utf8(b)
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return serde_json::Value::String(s.to_string());
    }
    match b.len() {
        4 => serde_json::Value::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        8 => serde_json::Value::from(i64::from_be_bytes(b.try_into().unwrap_or([0; 8]))),
        _ => serde_json::Value::String(format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )),
    }
}
