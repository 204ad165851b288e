//! The processing log: records a query could not process (bad JSON, a failed cast, a
//! missing timestamp) or could not write (an output record the cluster refused, with
//! `ksql.fail.on.production.error` = false), with the reason, written to a topic that SQL
//! can read as the `BROOK_PROCESSING_LOG` stream (ksqlDB's `KSQL_PROCESSING_LOG`). The query
//! keeps running.
//!
//! An entry has ksqlDB's shape — `LOGGER` (`processing.<query id>.<operator>`), `LEVEL`,
//! `TIME`, and `MESSAGE`, a struct whose `TYPE` says which of its error fields is set:
//!
//! | `TYPE` | field | when |
//! |---|---|---|
//! | 0 | `DESERIALIZATIONERROR` (`TARGET` key/value, `ERRORMESSAGE`, `RECORDB64`, `CAUSE`, `TOPIC`) | a source record's key or value cannot be read |
//! | 1 | `RECORDPROCESSINGERROR` (`ERRORMESSAGE`, `RECORD`, `CAUSE`) | a record cannot be processed (a null key, an unreadable timestamp, a failed expression), or records arrived after their window closed (`WARN`) |
//! | 2 | `PRODUCTIONERROR` (`ERRORMESSAGE`) | an output record the cluster refused was skipped |
//!
//! plus Brook's columns saying where: `QUERY_ID`, `OPERATOR`, and the input record's `TOPIC`,
//! `PARTITION` and `OFFSET` (for a production error: the output topic and partition, offset
//! null).

use std::sync::Arc;

use brook_streams::record::{InputRecord, OutputRecord};
use brook_streams::runtime::production::{FailedOutput, ProductionExceptionHandler, ProductionResponse};
use brook_streams::task::TaskContext;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::catalog::{Column, SourceDef};
use crate::format::Format;
use crate::parser::SourceKind;
use crate::types::SqlType;

/// Topic of the processing log of Brook's default service (see
/// `ServiceNames::processing_log_topic`; ksqlDB's `ksql.logging.processing.topic.name`
/// overrides it).
pub const PROCESSING_LOG_TOPIC: &str = "brook_processing_log";
/// Stream registered over the processing log topic.
pub const PROCESSING_LOG_STREAM: &str = "BROOK_PROCESSING_LOG";

/// The definition of the processing-log stream over `topic`.
pub fn processing_log_source(topic: &str) -> SourceDef {
    let v = |n: &str, t: SqlType| Column::value(n, t);
    SourceDef {
        name: PROCESSING_LOG_STREAM.to_string(),
        kind: SourceKind::Stream,
        columns: vec![
            v("LOGGER", SqlType::String),
            v("LEVEL", SqlType::String),
            v("TIME", SqlType::Bigint),
            v("QUERY_ID", SqlType::String),
            v("OPERATOR", SqlType::String),
            v("MESSAGE", message_type()),
            v("TOPIC", SqlType::String),
            v("PARTITION", SqlType::Int),
            v("OFFSET", SqlType::Bigint),
        ],
        topic: topic.to_string(),
        key_format: Format::Kafka,
        value_format: Format::Json,
        wrap_single_value: true,
        timestamp_column: None,
        timestamp_format: None,
        window: None,
        is_source: true,
        sql: format!(
            "CREATE SOURCE STREAM {PROCESSING_LOG_STREAM} (…) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON')"
        ),
        writer: None,
    }
}

/// ksqlDB's `MESSAGE` struct (see the module docs).
fn message_type() -> SqlType {
    let s = |n: &str| (n.to_string(), SqlType::String);
    let cause = ("CAUSE".to_string(), SqlType::Array(Box::new(SqlType::String)));
    SqlType::Struct(vec![
        ("TYPE".to_string(), SqlType::Int),
        (
            "DESERIALIZATIONERROR".to_string(),
            SqlType::Struct(vec![s("TARGET"), s("ERRORMESSAGE"), s("RECORDB64"), cause.clone(), s("TOPIC")]),
        ),
        (
            "RECORDPROCESSINGERROR".to_string(),
            SqlType::Struct(vec![s("ERRORMESSAGE"), s("RECORD"), cause.clone()]),
        ),
        ("PRODUCTIONERROR".to_string(), SqlType::Struct(vec![s("ERRORMESSAGE")])),
        (
            "SERIALIZATIONERROR".to_string(),
            SqlType::Struct(vec![s("TARGET"), s("ERRORMESSAGE"), s("RECORD"), cause, s("TOPIC")]),
        ),
    ])
}

/// The `MESSAGE` of an entry: its `TYPE` and the one error field that goes with it.
fn typed_message(field: &str, error: Value) -> Value {
    let ty = match field {
        "DESERIALIZATIONERROR" => 0,
        "RECORDPROCESSINGERROR" => 1,
        "PRODUCTIONERROR" => 2,
        _ => 3,
    };
    let mut m = json!({
        "TYPE": ty,
        "DESERIALIZATIONERROR": null,
        "RECORDPROCESSINGERROR": null,
        "PRODUCTIONERROR": null,
        "SERIALIZATIONERROR": null,
    });
    m[field] = error;
    m
}

/// A record-processing error (`TYPE` 1).
fn processing_error(text: &str) -> Value {
    typed_message("RECORDPROCESSINGERROR", json!({"ERRORMESSAGE": text, "RECORD": null, "CAUSE": []}))
}

/// Where one record came from, for a log entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordRef {
    pub topic: Option<Arc<str>>,
    pub partition: i32,
    pub offset: i64,
}

/// Writes processing-log entries for one query.
#[derive(Clone)]
pub(crate) struct ProcessingLog {
    pub query_id: Arc<str>,
    pub topic: Arc<str>,
}

impl ProcessingLog {
    /// Logs a skipped record: counted by the task (`TaskContext::skip`) and written to the log
    /// topic as a record-processing error.
    pub fn skip(&self, ctx: &mut TaskContext, operator: &str, message: &str, rec: &RecordRef) {
        ctx.skip(operator, message.to_string());
        let entry = self.entry("ERROR", operator, processing_error(message), rec, ctx.wall_clock());
        ctx.send(entry);
    }

    /// Logs a source record whose `target` ("key" or "value") cannot be read: counted by the
    /// task and written as a deserialization error carrying the raw bytes.
    pub fn skip_unreadable(
        &self,
        ctx: &mut TaskContext,
        operator: &str,
        target: &str,
        message: &str,
        r: &InputRecord,
    ) {
        ctx.skip(operator, message.to_string());
        let raw = if target == "key" { r.key.as_deref() } else { r.value.as_deref() };
        let error = json!({
            "TARGET": target,
            "ERRORMESSAGE": message,
            "RECORDB64": raw.map(crate::format::base64::encode),
            "CAUSE": [],
            "TOPIC": &*r.topic,
        });
        let at = RecordRef { topic: Some(r.topic.clone()), partition: r.partition, offset: r.offset };
        let entry = self.entry(
            "ERROR",
            operator,
            typed_message("DESERIALIZATIONERROR", error),
            &at,
            ctx.wall_clock(),
        );
        ctx.send(entry);
    }

    /// One log entry as the record written to the log topic.
    fn entry(&self, level: &str, operator: &str, message: Value, rec: &RecordRef, now: i64) -> OutputRecord {
        let value = json!({
            "LOGGER": format!("processing.{}.{}", self.query_id, operator),
            "LEVEL": level,
            "TIME": now,
            "QUERY_ID": &*self.query_id,
            "OPERATOR": operator,
            "MESSAGE": message,
            "TOPIC": rec.topic.as_deref(),
            "PARTITION": rec.partition,
            "OFFSET": (rec.offset >= 0).then_some(rec.offset),
        });
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        OutputRecord {
            topic: self.topic.to_string(),
            partition: None,
            key: None,
            value: Some(Bytes::from(bytes)),
            timestamp: now,
            headers: Vec::new(),
        }
    }
}

/// `ksql.fail.on.production.error` = false: an output record the cluster refuses (larger
/// than the topic's `max.message.bytes`) is skipped and a production error (`TYPE` 2) naming
/// it goes to the processing log; the query keeps running.
#[derive(Clone)]
pub(crate) struct LogProductionErrors(pub ProcessingLog);

impl std::fmt::Debug for LogProductionErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogProductionErrors({})", self.0.query_id)
    }
}

impl ProductionExceptionHandler for LogProductionErrors {
    fn handle(&self, failed: &FailedOutput<'_>) -> ProductionResponse {
        let r = failed.record;
        let size = r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
        let key = r.key.as_deref().map(|k| {
            let text = String::from_utf8_lossy(&k[..k.len().min(100)]).to_string();
            if k.len() > 100 { format!("{text}…") } else { text }
        });
        let text = format!(
            "the output record with key {} ({size} bytes of key and value, timestamp {}) for {} \
             partition {} was skipped: {}",
            key.map_or("null".to_string(), |k| format!("'{k}'")),
            r.timestamp,
            r.topic,
            r.partition.map_or("(by key)".to_string(), |p| p.to_string()),
            failed.error,
        );
        let at = RecordRef {
            topic: Some(Arc::from(r.topic.as_str())),
            partition: r.partition.unwrap_or(-1),
            offset: -1,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let entry = self.0.entry(
            "ERROR",
            "sink",
            typed_message("PRODUCTIONERROR", json!({"ERRORMESSAGE": text})),
            &at,
            now,
        );
        ProductionResponse::Continue(vec![entry])
    }
}

/// Records an operator dropped because their window had closed: each is counted in the task's
/// metrics (`late_records_dropped`, shown by `DESCRIBE … EXTENDED`), and the processing log
/// gets a `WARN` entry at most once a second per operator saying how many there were since the
/// last one and describing the latest — never one entry per record, which a badly skewed
/// input would turn into a flood.
pub(crate) struct LateLog {
    log: ProcessingLog,
    operator: &'static str,
    pending: u64,
    /// (ROWTIME, end of its last window, the operator's event time) of the latest late record
    /// not yet logged.
    latest: (i64, i64, i64),
    logged_at: i64,
}

impl LateLog {
    pub fn new(log: ProcessingLog, operator: &'static str) -> Self {
        LateLog { log, operator, pending: 0, latest: (0, 0, 0), logged_at: i64::MIN }
    }

    /// Counts a record at `rowtime` whose window ended at `window_end`, dropped because the
    /// operator's event time `now` had passed that end plus the grace period.
    pub fn dropped(&mut self, ctx: &mut TaskContext, rowtime: i64, window_end: i64, now: i64) {
        ctx.record_late();
        self.pending += 1;
        self.latest = (rowtime, window_end, now);
        if ctx.wall_clock().saturating_sub(self.logged_at) >= 1000 {
            self.flush(ctx);
        }
    }

    /// Writes the entry for records counted since the last one (called on commit too).
    pub fn flush(&mut self, ctx: &mut TaskContext) {
        if self.pending == 0 {
            return;
        }
        let (rowtime, end, now) = self.latest;
        let message = format!(
            "{} record(s) arrived after their window had closed and were dropped; the latest had \
             ROWTIME {rowtime} for a window ending at {end}, with event time already at {now} \
             (see GRACE PERIOD and max.task.idle.ms)",
            self.pending,
        );
        let at = RecordRef {
            topic: Some(ctx.current.topic.clone()),
            partition: ctx.current.partition,
            offset: ctx.current.offset,
        };
        let entry = self.log.entry("WARN", self.operator, processing_error(&message), &at, ctx.wall_clock());
        ctx.send(entry);
        self.pending = 0;
        self.logged_at = ctx.wall_clock();
    }
}
