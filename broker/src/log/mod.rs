//! The partitioned log: Brook's storage engine, with no networking in it.
//!
//! A topic partition is a directory of segment files holding Kafka RecordBatch v2 bytes exactly
//! as producers sent them (after offset assignment), plus sparse offset and time indexes:
//!
//! ```text
//! topics/orders/3/
//!     00000000000000000000.log        batches with offsets [0, 81920)
//!     00000000000000000000.index      sparse offset → byte position
//!     00000000000000000000.timeindex  sparse max-timestamp → byte position
//!     00000000000000081920.log        the active segment: appends go here
//!     recovery-point                  everything below this offset was fsynced
//!     producer-state.json             producer/transaction state as of an offset (snapshot)
//!     aborted.txnindex                aborted transactions, for read_committed fetches
//! ```
//!
//! * [`partition`]: append, fetch, offset lookup, DeleteRecords, recovery on open.
//! * [`flusher`]: group commit; `acks=all` writers wait for the durable offset.
//! * [`cleaner`]: retention by time and size, and log compaction, in the background.
//! * [`record_batch`]: just enough of the batch format to validate, re-offset and decode.
//! * [`validate`]: the checks a client's batch must pass before it reaches the log (Kafka's
//!   `LogValidator`); [`compression`]: decompression bounded while it runs.
//! * [`segment`], [`index`]: files and their indexes.
//! * [`config`]: topic configs with Kafka's names and defaults.
//! * [`producer_state`]: idempotent-producer sequence checks and open transactions (the LSO).
//! * [`control`]: transaction markers (commit/abort control batches).
//! * [`txn_index`]: the aborted-transaction index read_committed fetches consult.

pub mod cleaner;
pub mod compression;
pub mod config;
pub mod control;
pub mod flusher;
pub mod index;
pub mod partition;
pub mod producer_state;
pub mod record_batch;
pub mod segment;
pub mod txn_index;
pub mod validate;

pub use config::{LogConfig, TopicConfig};
pub use control::EndTxnMarker;
pub use partition::{AppendInfo, FetchData, Isolation, OffsetSpec, PartitionLog, PartitionStats};
pub use record_batch::{Header, NewRecord, Record, RecordBatchBuilder};
