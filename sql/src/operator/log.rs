//! The processing log: records a query could not process (bad JSON, a failed cast, a
//! missing timestamp), with the reason, written to a topic that SQL can read as the
//! `BROOK_PROCESSING_LOG` stream (ksqlDB's `KSQL_PROCESSING_LOG`). The query keeps running.

use std::sync::Arc;

use brook_streams::record::OutputRecord;
use brook_streams::task::TaskContext;
use bytes::Bytes;

use crate::catalog::{Column, SourceDef};
use crate::format::Format;
use crate::parser::SourceKind;
use crate::types::SqlType;

/// Topic of the processing log.
pub const PROCESSING_LOG_TOPIC: &str = "brook_processing_log";
/// Stream registered over the processing log topic.
pub const PROCESSING_LOG_STREAM: &str = "BROOK_PROCESSING_LOG";

/// The definition of the processing-log stream.
pub fn processing_log_source() -> SourceDef {
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
            v("MESSAGE", SqlType::String),
            v("TOPIC", SqlType::String),
            v("PARTITION", SqlType::Int),
            v("OFFSET", SqlType::Bigint),
        ],
        topic: PROCESSING_LOG_TOPIC.to_string(),
        key_format: Format::Kafka,
        value_format: Format::Json,
        wrap_single_value: true,
        timestamp_column: None,
        timestamp_format: None,
        window: None,
        is_source: true,
        sql: format!(
            "CREATE SOURCE STREAM {PROCESSING_LOG_STREAM} (…) WITH (KAFKA_TOPIC='{PROCESSING_LOG_TOPIC}', VALUE_FORMAT='JSON')"
        ),
        writer: None,
    }
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
    /// topic.
    pub fn skip(&self, ctx: &mut TaskContext, operator: &str, message: &str, rec: &RecordRef) {
        ctx.skip(operator, message.to_string());
        self.write(ctx, "ERROR", operator, message, rec);
    }

    fn write(&self, ctx: &mut TaskContext, level: &str, operator: &str, message: &str, rec: &RecordRef) {
        let value = serde_json::json!({
            "LOGGER": format!("processing.{}.{}", self.query_id, operator),
            "LEVEL": level,
            "TIME": ctx.wall_clock(),
            "QUERY_ID": &*self.query_id,
            "OPERATOR": operator,
            "MESSAGE": message,
            "TOPIC": rec.topic.as_deref(),
            "PARTITION": rec.partition,
            "OFFSET": rec.offset,
        });
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        ctx.send(OutputRecord {
            topic: self.topic.to_string(),
            partition: None,
            key: None,
            value: Some(Bytes::from(bytes)),
            timestamp: ctx.wall_clock(),
            headers: Vec::new(),
        });
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
        self.log.write(ctx, "WARN", self.operator, &message, &at);
        self.pending = 0;
        self.logged_at = ctx.wall_clock();
    }
}
