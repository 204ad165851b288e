//! Event time: watermarks that are right at any parallelism.
//!
//! A task's event time — its **watermark** — is what windows close on and what lateness is
//! judged against. It is the *minimum* over the task's inputs, never the largest timestamp
//! the task happened to see:
//!
//! ```text
//!  bids-0 ─► task 0_0 ─┐ records + report(0_0, wm=t0)     ┌─► task 1_0: wm = min(t0, t1)
//!                      ├──────── app-…-repartition ───────┤
//!  bids-1 ─► task 0_1 ─┘ records + report(0_1, wm=t1)     └─► task 1_1: wm = min(t0, t1)
//! ```
//!
//! * A partition of a topic outside producers write has come as far as the largest event time
//!   read from it; a task over several such partitions (a join) takes the minimum.
//! * A repartition topic interleaves the records of every upstream task in arrival order, so
//!   its largest timestamp says nothing about the slowest writer — the reason Kafka Streams
//!   drops a slow writer's records as late after a `GROUP BY`. Here every writer appends a
//!   [`WatermarkReport`] to every partition of the topics it writes, after the records it
//!   covers; the reading task's time is the minimum over all writers, held until each has
//!   reported.
//! * Inputs with nothing to wait for go **idle** after `max.task.idle.ms` (see [`TaskTime`])
//!   and leave the minimum, so an empty partition does not stop windows from closing forever.
//!
//! With this, `GRACE PERIOD` only has to cover how far records run out of order *within* one
//! input partition, at any number of partitions. For a topic written by several outside
//! producers at different speeds the engine cannot tell the producers apart: there, as in
//! Kafka Streams, the grace period must also cover the skew between them.
//!
//! Inside a batch, an operator moves its own time with the records it sees, but never past
//! [`TaskTime::cap`]: `TaskContext::time_after`.
//!
//! Writers report when their watermark or idleness changes. A reader commits the latest report
//! of each writer with its position ([`encode_checkpoint`]), so a task that restarts or moves
//! to another instance knows where every writer was, even one that has been quiet for hours.

mod plan;
mod report;
mod task_time;

pub use plan::{SubTopologyTime, time_plan};
pub use report::{REPORT_HEADER, WatermarkReport, decode_checkpoint, encode_checkpoint};
pub use task_time::{SourceClock, TaskTime};
