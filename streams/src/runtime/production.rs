//! What a stream thread does with an output record the cluster refuses: Kafka Streams'
//! `ProductionExceptionHandler` (`default.production.exception.handler`).
//!
//! ```text
//!  task outputs ─► StreamIo::write ─► written
//!                        │
//!                        └─ refused for what the record is (larger than the topic's
//!                           max.message.bytes, invalid) ─► Rejected ─► handler.handle
//!                                 ├─ Fail: the thread stops; the application's failure
//!                                 └─ Continue(records): the record is skipped (counted in
//!                                    records_skipped); `records` (a processing-log entry, a
//!                                    dead-letter record, or nothing) are written instead
//! ```
//!
//! Only a refusal of the record itself reaches the handler. A failing cluster (a storage
//! error, an unknown topic, a lost connection) always stops the thread: skipping records
//! because the disk is full would lose data the application was meant to keep.
//!
//! Over a Kafka cluster the client refuses a record larger than its own `message.max.bytes`
//! at once, and that refusal goes to the handler. A batch the *broker* refuses later (its
//! topic's `max.message.bytes` is smaller) fails every record in it, including those that
//! would have fitted alone, so it fails the thread; set the client's `message.max.bytes` (a
//! `Connection::Kafka` property) to the topic's limit to have such records refused one by one.

use std::fmt::Debug;

use crate::error::Error;
use crate::record::OutputRecord;
use crate::task::TaskId;

/// An output record the cluster refused, as the handler sees it.
#[derive(Debug)]
pub struct FailedOutput<'a> {
    /// The task that produced it.
    pub task: TaskId,
    /// The record (its topic, partition if chosen, key, value, timestamp).
    pub record: &'a OutputRecord,
    /// Why it was refused ([`Error::RecordRejected`]).
    pub error: &'a Error,
}

/// What to do about a refused record.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductionResponse {
    /// Stop: the stream thread fails with the error (Kafka Streams' `FAIL`).
    Fail,
    /// Skip the record and go on, writing these records instead (Kafka Streams' `CONTINUE`;
    /// the records are what KIP-1034 calls dead-letter records: a log entry, a copy to a
    /// dead-letter topic, or none).
    Continue(Vec<OutputRecord>),
}

/// Decides what happens to an output record the cluster refused (see the module docs).
///
/// Contract: called on the stream thread, between processing and the next commit, once per
/// refused record; the records of a [`ProductionResponse::Continue`] are written before the
/// task's positions are committed, and a refusal of one of them fails the thread.
pub trait ProductionExceptionHandler: Send + Sync + Debug {
    /// The response to one refused record.
    fn handle(&self, failed: &FailedOutput<'_>) -> ProductionResponse;
}

/// Fails the application on the first refused record (the default, as Kafka Streams'
/// `DefaultProductionExceptionHandler`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnProductionError;

impl ProductionExceptionHandler for FailOnProductionError {
    fn handle(&self, _failed: &FailedOutput<'_>) -> ProductionResponse {
        ProductionResponse::Fail
    }
}

/// Logs a refused record (at WARN) and skips it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndContinueOnProductionError;

impl ProductionExceptionHandler for LogAndContinueOnProductionError {
    fn handle(&self, failed: &FailedOutput<'_>) -> ProductionResponse {
        tracing::warn!(
            task = %failed.task,
            topic = %failed.record.topic,
            error = %failed.error,
            "skipping an output record the cluster refused"
        );
        ProductionResponse::Continue(Vec::new())
    }
}
