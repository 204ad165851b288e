//! The transaction coordinator: one state machine per transactional id (see
//! [`metadata`](super::metadata)), persisted in `__transaction_state`.
//!
//! Every transition is computed on a copy of the id's metadata, appended to the log, and only
//! then made visible in memory, so a failed append changes nothing. Replies that depend on a
//! transition wait until its record is fsynced (Kafka's `acks=-1` on the transaction log). The
//! in-memory map sits behind one mutex, held only for checks, appends and marker-free updates —
//! never across an fsync wait. Transactional produce batches are checked and appended under the
//! same mutex ([`TransactionCoordinator::append_transactional`]), so no batch can enter a
//! partition after the transaction's decision (KIP-890's verification, done in-process).
//!
//! Ending a transaction:
//!
//! ```text
//!  EndTxn ─► Prepare{Commit,Abort} appended ─► fsynced ─► marker appended to every partition
//!            (the decision)                                 ─► Complete* appended ─► reply
//! ```
//!
//! A crash after the decision is durable is repaired on open (`TransactionCoordinator::recover`
//! writes the markers again; a duplicate marker is harmless). A transaction left `Ongoing` is
//! aborted by the next InitProducerId of its id (fencing) or when its timeout passes
//! ([`TransactionCoordinator::abort_timed_out`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::metadata::{MAX_EPOCH, TxnMetadata, TxnState};
use super::record;
use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::group::{OFFSETS_TOPIC, OffsetAndMetadata};
use crate::log::{EndTxnMarker, NewRecord, OffsetSpec, PartitionLog, RecordBatchBuilder};
use crate::util::now_ms;

/// The coordinator epoch written into markers. Brook has one coordinator, which never changes
/// hands, so it is constant.
pub const COORDINATOR_EPOCH: i32 = 0;

/// Broker-side transaction settings, with Kafka's names.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often open
    /// transactions are checked against their timeout.
    pub abort_timed_out_interval: Duration,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig { max_timeout_ms: 900_000, abort_timed_out_interval: Duration::from_secs(10) }
    }
}

#[derive(Default)]
struct Txns {
    by_id: HashMap<String, TxnMetadata>,
    /// Current producer id → transactional id, for verifying transactional produce.
    by_pid: HashMap<i64, String>,
}

impl Txns {
    /// The metadata of `transactional_id`, if `producer_id` at `epoch` is its current producer.
    fn current(&mut self, transactional_id: &str, producer_id: i64, epoch: i16) -> Result<&mut TxnMetadata> {
        let meta =
            self.by_id.get_mut(transactional_id).ok_or_else(|| unknown_id(transactional_id, producer_id))?;
        check_producer(meta, producer_id, epoch)?;
        Ok(meta)
    }
}

/// What one InitProducerId step did.
enum InitStep {
    /// The id has this producer id and epoch once the record up to `end` is durable.
    Done { end: i64, producer_id: i64, epoch: i16 },
    /// An open transaction is being aborted (fenced); finish it and try again.
    Fencing { end: i64 },
}

/// The transaction coordinator of a broker.
pub struct TransactionCoordinator {
    log: Arc<PartitionLog>,
    txns: Mutex<Txns>,
    config: TxnConfig,
}

impl std::fmt::Debug for TransactionCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TransactionCoordinator({} ids)", self.txns.lock().by_id.len())
    }
}

impl TransactionCoordinator {
    /// Loads every transactional id from the transaction log (last record per id wins; a
    /// tombstone removes it).
    pub(crate) fn open(log: Arc<PartitionLog>, config: TxnConfig) -> Result<TransactionCoordinator> {
        let mut by_id: HashMap<String, TxnMetadata> = HashMap::new();
        let mut next = log.list_offset(OffsetSpec::Earliest)?.map_or(0, |o| o.0);
        loop {
            let (records, hw) = log.read_records(next, 4 << 20)?;
            if records.is_empty() {
                break;
            }
            for r in records {
                next = r.offset + 1;
                let Some(id) = r.key.as_deref().and_then(|k| record::decode_key(k).ok()) else {
                    tracing::warn!(offset = r.offset, "skipping a transaction log record with a bad key");
                    continue;
                };
                match r.value.as_deref().map(|v| record::decode_value(&id, v)) {
                    None => {
                        by_id.remove(&id);
                    }
                    Some(Ok(meta)) => {
                        by_id.insert(id, meta);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(offset = r.offset, error = %e, "skipping a damaged transaction log record")
                    }
                }
            }
            if next >= hw {
                break;
            }
        }
        let by_pid = by_id.values().map(|m| (m.producer_id, m.transactional_id.clone())).collect();
        Ok(TransactionCoordinator { log, txns: Mutex::new(Txns { by_id, by_pid }), config })
    }

    /// The coordinator's settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// Appends the state of one id to the transaction log; returns the offset to wait for.
    fn persist(&self, meta: &TxnMetadata) -> Result<i64> {
        let mut batch = RecordBatchBuilder::new(now_ms());
        batch.push(&NewRecord::new(
            Some(record::encode_key(&meta.transactional_id)),
            Some(record::encode_value(meta)),
        ));
        match self.log.append(batch.finish()) {
            Ok(info) => Ok(info.last_offset + 1),
            Err(e) => Err(Error::CoordinatorNotAvailable(format!("writing the transaction log failed: {e}"))),
        }
    }

    async fn durable(&self, end: i64) -> Result<()> {
        self.log.wait_durable(end).await
    }

    /// InitProducerId with a transactional id: registers the id with a fresh producer id, or
    /// bumps its epoch — fencing every older producer of the id and aborting a transaction it
    /// left open. With `expected` (v3+, KIP-360) the caller proves it is the current producer
    /// (or retries a bump whose reply it lost). Returns the producer id and epoch to use.
    pub async fn init_producer_id(
        &self,
        broker: &Broker,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16)> {
        if transactional_id.is_empty() {
            return Err(Error::InvalidRequest("the transactional id must not be empty".to_string()));
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(Error::InvalidTransactionTimeout {
                got: timeout_ms,
                max: self.config.max_timeout_ms,
            });
        }
        let mut expected = expected.filter(|(pid, _)| *pid >= 0);
        for _ in 0..3 {
            match self.init_step(broker, transactional_id, timeout_ms, expected)? {
                InitStep::Done { end, producer_id, epoch } => {
                    self.durable(end).await?;
                    return Ok((producer_id, epoch));
                }
                InitStep::Fencing { end } => {
                    self.durable(end).await?;
                    self.complete(broker, transactional_id)?;
                    // The caller's epoch was checked; the next step bumps past the abort.
                    expected = None;
                }
            }
        }
        Err(Error::ConcurrentTransactions(transactional_id.to_string()))
    }

    fn init_step(
        &self,
        broker: &Broker,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<InitStep> {
        let mut txns = self.txns.lock();
        let now = now_ms();
        let Some(current) = txns.by_id.get(id).cloned() else {
            let meta = TxnMetadata {
                transactional_id: id.to_string(),
                producer_id: broker.allocate_producer_id()?,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: Default::default(),
                start_ms: -1,
                last_update_ms: now,
            };
            let end = self.persist(&meta)?;
            let (producer_id, epoch) = (meta.producer_id, meta.producer_epoch);
            txns.by_pid.insert(producer_id, id.to_string());
            txns.by_id.insert(id.to_string(), meta);
            return Ok(InitStep::Done { end, producer_id, epoch });
        };
        if current.state.is_pending() {
            return Err(Error::ConcurrentTransactions(id.to_string()));
        }
        if let Some((pid, epoch)) = expected {
            if pid != current.producer_id {
                return Err(fenced(&current, epoch));
            }
            if epoch != current.producer_epoch {
                if epoch == current.last_producer_epoch && current.state.is_idle() {
                    // A retry of a bump that already happened (or a producer whose transaction
                    // timed out): it continues at the current epoch.
                    return Ok(InitStep::Done { end: 0, producer_id: pid, epoch: current.producer_epoch });
                }
                return Err(fenced(&current, epoch));
            }
        }
        let mut next = current;
        next.timeout_ms = timeout_ms;
        next.last_update_ms = now;
        if next.state == TxnState::Ongoing {
            // The previous producer left a transaction open: abort it at a new epoch, so its
            // late writes and markers are refused everywhere.
            if next.producer_epoch < MAX_EPOCH {
                next.bump_epoch();
            }
            next.state = TxnState::PrepareAbort;
            let end = self.persist(&next)?;
            txns.by_id.insert(id.to_string(), next);
            return Ok(InitStep::Fencing { end });
        }
        if next.producer_epoch >= MAX_EPOCH {
            // Epochs are exhausted: continue with a new producer id.
            txns.by_pid.remove(&next.producer_id);
            next.producer_id = broker.allocate_producer_id()?;
            next.producer_epoch = 0;
            next.last_producer_epoch = -1;
        } else {
            next.bump_epoch();
        }
        next.state = TxnState::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        let end = self.persist(&next)?;
        let (producer_id, epoch) = (next.producer_id, next.producer_epoch);
        txns.by_pid.insert(producer_id, id.to_string());
        txns.by_id.insert(id.to_string(), next);
        Ok(InitStep::Done { end, producer_id, epoch })
    }

    /// AddPartitionsToTxn: the transaction will write to these partitions (opening it if
    /// none is open). Returns once the enlarged transaction is durable.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<()> {
        let end = {
            let mut txns = self.txns.lock();
            let meta = txns.current(transactional_id, producer_id, epoch)?;
            if meta.state.is_pending() {
                return Err(Error::ConcurrentTransactions(transactional_id.to_string()));
            }
            if meta.state == TxnState::Ongoing && partitions.iter().all(|p| meta.partitions.contains(p)) {
                return Ok(());
            }
            let now = now_ms();
            let mut next = meta.clone();
            if next.state != TxnState::Ongoing {
                next.partitions.clear();
                next.start_ms = now;
            }
            next.state = TxnState::Ongoing;
            next.partitions.extend(partitions.iter().cloned());
            next.last_update_ms = now;
            let end = self.persist(&next)?;
            *meta = next;
            end
        };
        self.durable(end).await
    }

    /// AddOffsetsToTxn: the transaction will commit offsets of `group` (it writes a marker to
    /// the group's `__consumer_offsets` partition).
    pub async fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> Result<()> {
        if group.is_empty() {
            return Err(Error::InvalidGroupId(group.to_string()));
        }
        self.add_partitions(transactional_id, producer_id, epoch, &[(OFFSETS_TOPIC.to_string(), 0)]).await
    }

    /// TxnOffsetCommit: stores `group`'s offsets as part of the transaction; they become the
    /// group's committed offsets only if it commits.
    pub async fn commit_offsets(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: &[(String, i32, OffsetAndMetadata)],
    ) -> Result<()> {
        let end = {
            let mut txns = self.txns.lock();
            let meta = txns.current(transactional_id, producer_id, epoch)?;
            if meta.state != TxnState::Ongoing || !meta.partitions.contains(&(OFFSETS_TOPIC.to_string(), 0)) {
                return Err(Error::InvalidTxnState(format!(
                    "transactional id '{transactional_id}' has not added group '{group}' to its transaction \
                     (AddOffsetsToTxn / send_offsets_to_transaction first)"
                )));
            }
            broker.group_offsets().append_transactional(group, producer_id, epoch, offsets)?
        };
        broker.group_offsets().log().wait_durable(end).await
    }

    /// EndTxn: commits or aborts the open transaction. Returns once the decision is durable and
    /// every partition has its marker.
    pub async fn end_txn(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<()> {
        let end = {
            let mut txns = self.txns.lock();
            let meta = txns.current(transactional_id, producer_id, epoch)?;
            match (meta.state, commit) {
                (TxnState::Ongoing, _) => {
                    let mut next = meta.clone();
                    next.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                    next.last_update_ms = now_ms();
                    let end = self.persist(&next)?;
                    *meta = next;
                    end
                }
                // A retry of an EndTxn that completed.
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(()),
                // A retry of one still completing.
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                    return Err(Error::ConcurrentTransactions(transactional_id.to_string()));
                }
                (state, _) => {
                    return Err(Error::InvalidTxnState(format!(
                        "cannot {} transactional id '{transactional_id}': its state is {}",
                        if commit { "commit" } else { "abort" },
                        state.name()
                    )));
                }
            }
        };
        self.durable(end).await?;
        self.complete(broker, transactional_id)
    }

    /// Carries out a durable decision: writes the markers, then records `Complete*`. A no-op
    /// unless the id is in `PrepareCommit` or `PrepareAbort`. On a failed marker write the id
    /// stays decided and the timeout sweep tries again.
    pub(crate) fn complete(&self, broker: &Broker, transactional_id: &str) -> Result<()> {
        let (producer_id, epoch, commit, partitions) = {
            let txns = self.txns.lock();
            let Some(meta) = txns.by_id.get(transactional_id) else { return Ok(()) };
            let commit = match meta.state {
                TxnState::PrepareCommit => true,
                TxnState::PrepareAbort => false,
                _ => return Ok(()),
            };
            (meta.producer_id, meta.producer_epoch, commit, meta.partitions.clone())
        };
        let marker = EndTxnMarker { commit, coordinator_epoch: COORDINATOR_EPOCH };
        for (topic, partition) in &partitions {
            match broker.write_txn_marker(topic, *partition, producer_id, epoch, marker) {
                Ok(()) => {}
                // The topic was deleted: there is nothing left to mark.
                Err(Error::UnknownTopicOrPartition(_)) => {}
                Err(e @ Error::ProducerFenced { .. }) => {
                    tracing::warn!(%transactional_id, topic, partition, error = %e, "marker refused");
                }
                Err(e) => return Err(e),
            }
        }
        let mut txns = self.txns.lock();
        let Some(meta) = txns.by_id.get_mut(transactional_id) else { return Ok(()) };
        let decided = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        if meta.state != decided || meta.producer_epoch != epoch || meta.producer_id != producer_id {
            return Ok(()); // Someone else completed it meanwhile.
        }
        let mut next = meta.clone();
        next.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        next.partitions.clear();
        next.last_update_ms = now_ms();
        // Not waited for: if it is lost, recovery writes the markers again.
        self.persist(&next)?;
        *meta = next;
        Ok(())
    }

    /// Appends a transactional batch of `producer_id` to `topic`-`partition` through `append`,
    /// after checking that the producer is current and the partition is part of its open
    /// transaction. Runs `append` under the coordinator's lock, so the transaction cannot be
    /// decided between the check and the write.
    pub fn append_transactional<T>(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
        append: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let txns = self.txns.lock();
        let Some(meta) = txns.by_pid.get(&producer_id).and_then(|id| txns.by_id.get(id)) else {
            return Err(Error::InvalidTxnState(format!(
                "producer id {producer_id} has no transaction here; initialise it with its transactional.id"
            )));
        };
        if epoch != meta.producer_epoch {
            return Err(Error::ProducerFenced { producer_id, current: meta.producer_epoch, got: epoch });
        }
        if meta.state != TxnState::Ongoing || !meta.partitions.contains(&(topic.to_string(), partition)) {
            return Err(Error::InvalidTxnState(format!(
                "{topic}-{partition} is not part of an open transaction of '{}' (AddPartitionsToTxn first)",
                meta.transactional_id
            )));
        }
        append()
    }

    /// Whether [`Self::abort_timed_out`] has work at `now_ms`: a transaction past its timeout
    /// or a decision whose markers are overdue.
    pub fn needs_sweep(&self, now_ms: i64) -> bool {
        self.txns.lock().by_id.values().any(|m| m.timed_out(now_ms) || m.decision_overdue(now_ms))
    }

    /// Aborts every transaction open longer than its timeout (fencing its producer with an
    /// epoch bump, as Kafka does), and writes again the markers of decisions that are stuck.
    /// Returns how many transactions it aborted.
    pub async fn abort_timed_out(&self, broker: &Broker) -> usize {
        let now = now_ms();
        let mut end = 0;
        let mut aborted = 0;
        let mut to_complete = Vec::new();
        {
            let mut txns = self.txns.lock();
            for meta in txns.by_id.values_mut() {
                if meta.timed_out(now) {
                    let mut next = meta.clone();
                    if next.producer_epoch < MAX_EPOCH {
                        next.bump_epoch();
                    }
                    next.state = TxnState::PrepareAbort;
                    next.last_update_ms = now;
                    match self.persist(&next) {
                        Ok(e) => {
                            tracing::info!(
                                transactional_id = %meta.transactional_id,
                                timeout_ms = meta.timeout_ms,
                                "aborting a transaction open past its timeout"
                            );
                            end = end.max(e);
                            aborted += 1;
                            to_complete.push(meta.transactional_id.clone());
                            *meta = next;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot abort a timed-out transaction"),
                    }
                } else if meta.decision_overdue(now) {
                    to_complete.push(meta.transactional_id.clone());
                }
            }
        }
        if let Err(e) = self.durable(end).await {
            tracing::warn!(error = %e, "transaction log not durable; timed-out transactions wait");
            return 0;
        }
        for id in to_complete {
            if let Err(e) = self.complete(broker, &id) {
                tracing::warn!(transactional_id = %id, error = %e, "writing transaction markers failed; will retry");
            }
        }
        aborted
    }

    /// Completes the decisions found in the log after a restart (their markers may be missing
    /// in some partitions). Open transactions are left to their timeout or to their producer's
    /// next InitProducerId.
    pub(crate) fn recover(&self, broker: &Broker) {
        let decided: Vec<String> = self
            .txns
            .lock()
            .by_id
            .values()
            .filter(|m| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in decided {
            if let Err(e) = self.complete(broker, &id) {
                tracing::warn!(transactional_id = %id, error = %e, "completing a transaction after restart failed; will retry");
            }
        }
    }

    /// The state of one transactional id (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Result<TxnMetadata> {
        self.txns
            .lock()
            .by_id
            .get(transactional_id)
            .cloned()
            .ok_or_else(|| Error::TransactionalIdNotFound(transactional_id.to_string()))
    }

    /// Every transactional id, sorted (ListTransactions).
    pub fn list(&self) -> Vec<TxnMetadata> {
        let mut all: Vec<_> = self.txns.lock().by_id.values().cloned().collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }
}

fn check_producer(meta: &TxnMetadata, producer_id: i64, epoch: i16) -> Result<()> {
    if producer_id != meta.producer_id {
        return Err(unknown_id(&meta.transactional_id, producer_id));
    }
    if epoch != meta.producer_epoch {
        return Err(fenced(meta, epoch));
    }
    Ok(())
}

fn fenced(meta: &TxnMetadata, got: i16) -> Error {
    Error::TransactionalProducerFenced {
        transactional_id: meta.transactional_id.clone(),
        current: meta.producer_epoch,
        got,
    }
}

fn unknown_id(transactional_id: &str, producer_id: i64) -> Error {
    Error::InvalidProducerIdMapping(format!(
        "producer id {producer_id} is not the current producer of transactional id '{transactional_id}' \
         (unknown id, or re-initialised by another producer); call InitProducerId"
    ))
}
