//! Kafka transactions: the transaction coordinator and its durable state.
//!
//! ```text
//!  InitProducerId ─┐                          ┌─► __transaction_state (compacted; fsynced
//!  AddPartitions   │   TransactionCoordinator │     before every reply that depends on it)
//!  AddOffsets      ├──► one state machine per ─┤
//!  TxnOffsetCommit │   transactional id       ├─► markers (COMMIT/ABORT control batches) to
//!  EndTxn ─────────┘   (metadata.rs)          │     every partition of the transaction and to
//!                                             │     __consumer_offsets for its group offsets
//!  Produce (transactional batch) ── verified ─┘   (log::control, log::partition)
//! ```
//!
//! Brook follows Kafka's transaction protocol v1 (KIP-98, with the epoch bumps of KIP-360 and
//! KIP-588): a client's `transactional.id` maps to a producer id and epoch; InitProducerId bumps
//! the epoch, which fences every older producer with the same id and aborts the transaction it
//! left open; EndTxn records the decision (`PrepareCommit`/`PrepareAbort`) durably, then writes a
//! marker to each partition, then records `Complete*`. After a crash, decisions found in the log
//! are carried out again on open, and open transactions are aborted when their
//! `transaction.timeout.ms` passes (checked every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
//!
//! On the log side each partition tracks its open transactions (the last stable offset) and
//! indexes aborted ones, so read_committed consumers read only decided data and drop aborted
//! records (see [`crate::log::producer_state`] and [`crate::log::txn_index`]).
//!
//! * [`metadata`]: the states and what the coordinator keeps per transactional id.
//! * [`record`]: the `__transaction_state` record layout (Kafka's).
//! * [`coordinator`]: the request handling, markers, timeouts and recovery.

pub mod coordinator;
pub mod metadata;
pub mod record;

pub use coordinator::{TransactionCoordinator, TxnConfig};
pub use metadata::{TxnMetadata, TxnState};

/// Name of the internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
