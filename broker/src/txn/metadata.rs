//! What the coordinator knows about one transactional id, and the states a transaction moves
//! through (Kafka's `TransactionState`, with its ids and names).
//!
//! ```text
//!             AddPartitions/AddOffsets                EndTxn(commit)
//!   Empty ─────────────────────────► Ongoing ───────────────────────► PrepareCommit ─► CompleteCommit
//!     ▲   InitProducerId (epoch + 1)    │  EndTxn(abort), timeout,                          │
//!     └──────────────────────────────── │  InitProducerId fencing ──► PrepareAbort ──► CompleteAbort
//!                                       ▼                                                   │
//!          Complete* ── AddPartitions ─► Ongoing (the next transaction)   ◄─────────────────┘
//! ```
//!
//! `Prepare*` is the decision: once it is durable in `__transaction_state` the outcome is fixed,
//! and the markers are (re)written until `Complete*` is recorded.

use std::collections::BTreeSet;

/// How long a decided transaction may wait for its markers before the timeout sweep writes
/// them again (after a failed marker write, or a request cut short).
const DECISION_OVERDUE_MS: i64 = 5_000;

/// The largest usable producer epoch; at this epoch the next bump rotates to a new producer
/// id (Kafka reserves `i16::MAX` itself).
pub const MAX_EPOCH: i16 = i16::MAX - 1;

/// State of a transactional id, with Kafka's ids (the `TransactionStatus` byte of the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// A producer id and epoch are assigned; no transaction is open.
    Empty,
    /// A transaction is open: partitions or offsets were added.
    Ongoing,
    /// Commit decided; markers are being written.
    PrepareCommit,
    /// Abort decided (by the client, a timeout or fencing); markers are being written.
    PrepareAbort,
    /// The last transaction committed in every partition.
    CompleteCommit,
    /// The last transaction aborted in every partition.
    CompleteAbort,
    /// The transactional id expired.
    Dead,
    /// Being fenced (in memory only): the epoch was bumped, the abort is about to be written.
    PrepareEpochFence,
}

/// Every state, for listings and filters.
pub const ALL_STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

impl TxnState {
    /// The id stored in `__transaction_state`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state with this stored id.
    pub fn from_id(id: i8) -> Option<TxnState> {
        ALL_STATES.into_iter().find(|s| s.id() == id)
    }

    /// The name Kafka's admin APIs and tools use (DescribeTransactions, ListTransactions).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state with this name (case-insensitive, for filters).
    pub fn from_name(name: &str) -> Option<TxnState> {
        ALL_STATES.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Whether a decision is being carried out (requests must wait: CONCURRENT_TRANSACTIONS).
    pub fn is_pending(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence)
    }

    /// Whether no transaction is open (a new one may start, the id may be re-initialised).
    pub fn is_idle(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Dead)
    }
}

/// A transactional id's producer and its current transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The client's `transactional.id`.
    pub transactional_id: String,
    /// Producer id currently mapped to it.
    pub producer_id: i64,
    /// Current producer epoch; older epochs are fenced.
    pub producer_epoch: i16,
    /// The epoch before the last bump (in memory only; -1 when unknown), so a producer whose
    /// InitProducerId reply was lost, or whose transaction timed out, can recover (KIP-360).
    pub last_producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Transaction state.
    pub state: TxnState,
    /// Partitions the open (or finishing) transaction wrote or may write to.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (its first AddPartitions/AddOffsets), ms; -1 if none.
    pub start_ms: i64,
    /// When the state last changed, ms.
    pub last_update_ms: i64,
}

impl TxnMetadata {
    /// Whether the open transaction has run past its timeout at `now_ms`.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.start_ms >= 0
            && now_ms > self.start_ms + self.timeout_ms as i64
    }

    /// Whether a decision (`Prepare*`) has waited for its markers too long at `now_ms`.
    pub fn decision_overdue(&self, now_ms: i64) -> bool {
        self.state.is_pending() && now_ms - self.last_update_ms > DECISION_OVERDUE_MS
    }

    /// Moves to the next epoch, remembering the current one.
    pub(crate) fn bump_epoch(&mut self) {
        self.last_producer_epoch = self.producer_epoch;
        self.producer_epoch += 1;
    }
}
