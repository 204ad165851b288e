//! The Arrow batch operators that compiled queries run, and their contract (Arroyo-style: an
//! operator receives record batches on numbered input ports and pushes batches downstream).
//! The planner decides *what* runs ([`crate::planner`]), the compiler wires operators into
//! tasks ([`crate::compile`]); this module is *how* each one runs.
//!
//! ```text
//!  InputRecords ─► source::SourceDecoder ─► stateless::{FilterOp, ProjectOp}
//!     repartition::RowSource (internal topics) ─┤
//!                  retract::RetractOp ─► aggregate::AggregateOp | session::SessionAggregateOp
//!                  join::{StreamTable, TableTable, ForeignKey, StreamStream}Join
//!                  ─► sink::{TopicSink, RepartitionSink, CallbackSink, DiscardSink} ─► OutputRecords
//! ```
//!
//! `log` writes per-record failures and late records to the processing log.
//!
//! Contract:
//! * `process` is called with batches in input order; an operator may emit zero or more
//!   batches downstream before returning.
//! * `advance` is called on every operator of a task, upstream first, after each round of
//!   input: windows that closed are emitted and expired state dropped there.
//! * `flush` makes state durable; the runtime calls it before committing input offsets.
//! * Per-record failures never fail the call: they go to the processing log.

pub(crate) mod aggregate;
pub(crate) mod join;
pub mod log;
pub(crate) mod repartition;
pub(crate) mod retract;
pub(crate) mod session;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod stateless;

use std::cell::RefCell;
use std::rc::Rc;

use brook_streams::task::TaskContext;
use datafusion::arrow::array::RecordBatch;

use crate::error::Result;

/// A batch operator.
pub(crate) trait Operator {
    /// Processes one batch arriving on `port` (0 for single-input operators; joins: 0 left,
    /// 1 right).
    fn process(&mut self, port: usize, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()>;

    /// Stream time may have advanced: emit what became final, expire state.
    fn advance(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        Ok(())
    }

    /// Makes state durable.
    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        Ok(())
    }
}

/// A shared operator handle.
pub(crate) type OpRef = Rc<RefCell<dyn Operator>>;

/// Where an operator sends its output.
#[derive(Clone)]
pub(crate) struct Down {
    pub op: OpRef,
    pub port: usize,
}

impl Down {
    /// Sends a batch downstream (empty batches are dropped).
    pub fn send(&self, batch: RecordBatch, ctx: &mut TaskContext) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.op.borrow_mut().process(self.port, batch, ctx)
    }
}
