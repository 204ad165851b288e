//! The in-process broker: topics made of partition logs, committed group offsets, and the
//! background flusher and cleaner, all rooted in one data directory.
//!
//! ```text
//! data-dir/
//!   .clean-shutdown          present only between a clean close and the next open
//!   producer-ids             next free idempotent-producer id block
//!   topics/<name>/topic.json partitions, id and config overrides
//!   topics/__consumer_offsets/  committed group offsets (compacted)
//!   topics/__transaction_state/ transaction coordinator state (compacted)
//!   topics/<name>/<p>/…      the partition logs (see the `log` module)
//! ```
//!
//! The streams engine embeds this API directly; the Kafka-protocol server is a thin layer over
//! the same calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::group::{GroupCoordinator, GroupOffsetStore, OFFSETS_TOPIC, OffsetAndMetadata};
use crate::log::EndTxnMarker;
use crate::log::cleaner::Cleaner;
use crate::log::flusher::{FlushQueue, Flusher};
use crate::log::partition::sync_dir;
use crate::log::{
    AppendInfo, FetchData, NewRecord, OffsetSpec, PartitionLog, PartitionStats, Record, RecordBatchBuilder,
    TopicConfig,
};
use crate::partitioner::Partitioner;
use crate::txn::{TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig};
use crate::util::{Periodic, now_ms};

/// How a broker is set up.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Root of all data.
    pub data_dir: PathBuf,
    /// Node id reported to Kafka clients.
    pub node_id: i32,
    /// Background flush period for data nobody waits on (`None`: only flush on request).
    pub flush_interval: Option<Duration>,
    /// How often retention and compaction run.
    pub cleaner_interval: Duration,
    /// Partitions of auto-created topics.
    pub default_partitions: i32,
    /// Kafka's `auto.create.topics.enable`: whether a Metadata request that allows it
    /// (v4+ `allow_auto_topic_creation`, always before v4) creates an unknown topic. Internal
    /// names (`__*`, `_brook_*`) are never created this way.
    pub auto_create_topics: bool,
    /// Kafka's `message.max.bytes`: the largest record batch accepted from a client, as sent
    /// and decompressed, unless the topic sets `max.message.bytes`.
    pub message_max_bytes: usize,
    /// Transaction coordinator settings (`transaction.max.timeout.ms`, timeout sweep).
    pub transactions: TxnConfig,
}

impl BrokerConfig {
    /// Defaults for a broker in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            data_dir: data_dir.into(),
            node_id: 0,
            flush_interval: Some(Duration::from_millis(1000)),
            cleaner_interval: Duration::from_secs(30),
            default_partitions: 1,
            auto_create_topics: true,
            message_max_bytes: DEFAULT_MESSAGE_MAX_BYTES,
            transactions: TxnConfig::default(),
        }
    }
}

/// Kafka's default `message.max.bytes` (1 MiB plus batch overhead).
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_048_588;

/// Whether `name` is an internal topic: `__*` (the broker's own — group offsets, transaction
/// state) or `_brook_*` (Brook's components — the SQL command log, connector definitions and
/// offsets, query state). Kafka clients may read them; only the broker and Brook's own
/// components write them (see `server::ServerConfig::internal_topic_writers`).
pub fn is_internal_topic(name: &str) -> bool {
    name.starts_with("__") || name.starts_with("_brook_")
}

#[derive(Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    id: String,
    partitions: i32,
    config: TopicConfig,
}

/// A topic: its partition logs and configuration.
pub struct Topic {
    name: String,
    id: [u8; 16],
    dir: PathBuf,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<PartitionLog>>>,
}

impl Topic {
    /// Topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stable 16-byte topic id (Kafka's topic UUID).
    pub fn id(&self) -> [u8; 16] {
        self.id
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }

    /// Config overrides.
    pub fn config(&self) -> TopicConfig {
        self.config.read().clone()
    }

    /// Whether this is one of the broker's internal topics.
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }

    /// The largest batch a client may produce here: the topic's `max.message.bytes` if set,
    /// else the broker's `message.max.bytes` (`broker_default`).
    pub fn max_message_bytes(&self, broker_default: usize) -> usize {
        match self.config.read().overrides.get("max.message.bytes").map(|v| v.trim().parse::<usize>()) {
            Some(Ok(n)) => n,
            _ => broker_default,
        }
    }

    /// One partition's log.
    pub fn partition(&self, partition: i32) -> Option<Arc<PartitionLog>> {
        usize::try_from(partition).ok().and_then(|p| self.partitions.read().get(p).cloned())
    }

    /// All partition logs.
    pub fn partitions(&self) -> Vec<Arc<PartitionLog>> {
        self.partitions.read().clone()
    }

    fn save(&self) -> Result<()> {
        let meta = TopicMeta {
            name: self.name.clone(),
            id: hex(&self.id),
            partitions: self.partition_count(),
            config: self.config(),
        };
        let path = self.dir.join("topic.json");
        let tmp = self.dir.join("topic.json.tmp");
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| Error::InvalidConfig(format!("cannot encode topic metadata: {e}")))?;
        std::fs::write(&tmp, json).map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(Error::io(format!("syncing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(Error::io(format!("renaming {}", tmp.display())))?;
        sync_dir(&self.dir)
    }
}

/// Description of a topic for admin tools.
#[derive(Debug, Clone)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub id: [u8; 16],
    /// Whether it is internal.
    pub internal: bool,
    /// Per-partition statistics.
    pub partitions: Vec<PartitionStats>,
    /// Config overrides.
    pub config: TopicConfig,
}

/// Where produced records went: `(partition, offset)` per record, in input order.
pub type ProduceResult = Vec<(i32, i64)>;

struct Inner {
    config: BrokerConfig,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    admin: Mutex<()>,
    flush_queue: Arc<FlushQueue>,
    flusher: Mutex<Option<Flusher>>,
    cleaner: Mutex<Option<Cleaner>>,
    offsets: GroupOffsetStore,
    /// The group coordinators of the protocol servers serving this broker (they know the
    /// groups' members), so that deleting a group refuses one with members whichever way the
    /// request comes in.
    group_coordinators: Mutex<Vec<Weak<GroupCoordinator>>>,
    transactions: Arc<TransactionCoordinator>,
    txn_sweeper: Mutex<Option<Periodic>>,
    partitioner: Partitioner,
    producer_ids: Mutex<(i64, i64)>,
    closed: AtomicBool,
    /// Held for the broker's lifetime so no second process opens the same data directory.
    _lock: std::fs::File,
}

/// A handle to an open broker. Cheap to clone; all clones share the same broker.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> brook_broker::Result<()> {
/// use brook_broker::{Broker, BrokerConfig, NewRecord, OffsetSpec, TopicConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let broker = Broker::open(BrokerConfig::new(dir.path()))?;
/// broker.create_topic("orders", 3, TopicConfig::default())?;
/// let placed = broker.produce("orders", None, vec![NewRecord::new(Some("k1"), Some("v1"))])?;
/// let (partition, offset) = placed[0];
/// broker.wait_durable("orders", partition, offset + 1).await?;
/// let records = broker.read("orders", partition, 0, 1 << 20)?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"v1"[..]));
/// assert_eq!(broker.list_offset("orders", partition, OffsetSpec::Latest)?, Some((1, -1)));
/// broker.commit_offsets("g", vec![("orders".into(), partition, brook_broker::OffsetAndMetadata::new(1))]).await?;
/// assert_eq!(broker.committed_offset("g", "orders", partition).unwrap().offset, 1);
/// broker.close()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Broker({})", self.inner.config.data_dir.display())
    }
}

const CLEAN_MARKER: &str = ".clean-shutdown";

impl Broker {
    /// Opens the broker in `config.data_dir`, creating it if needed, and recovers every
    /// partition (see [`PartitionLog`] for what recovery checks).
    pub fn open(config: BrokerConfig) -> Result<Broker> {
        let dir = &config.data_dir;
        let topics_dir = dir.join("topics");
        std::fs::create_dir_all(&topics_dir)
            .map_err(Error::io(format!("creating data directory {}", topics_dir.display())))?;
        let lock = acquire_lock(dir)?;
        let marker = dir.join(CLEAN_MARKER);
        let clean = marker.exists();
        if clean {
            std::fs::remove_file(&marker).map_err(Error::io(format!("removing {}", marker.display())))?;
            sync_dir(dir)?;
        }
        let flush_queue = Arc::new(FlushQueue::default());
        let mut topics = BTreeMap::new();
        for entry in
            std::fs::read_dir(&topics_dir).map_err(Error::io(format!("listing {}", topics_dir.display())))?
        {
            let path = entry.map_err(Error::io("listing topics"))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.starts_with(".deleted-") {
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            if !path.join("topic.json").exists() {
                // A topic whose creation did not finish.
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            let topic = load_topic(&path, clean, &flush_queue)?;
            topics.insert(topic.name.clone(), topic);
        }
        let offsets_log = internal_log(&mut topics, &topics_dir, OFFSETS_TOPIC, &flush_queue)?;
        let offsets = GroupOffsetStore::open(offsets_log)?;
        let txn_log = internal_log(&mut topics, &topics_dir, TRANSACTION_STATE_TOPIC, &flush_queue)?;
        let transactions = Arc::new(TransactionCoordinator::open(txn_log, config.transactions.clone())?);
        let next_pid = read_i64(&dir.join("producer-ids")).unwrap_or(0);
        let flusher = Flusher::start(flush_queue.clone(), config.flush_interval);
        let inner = Arc::new(Inner {
            config: config.clone(),
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
            flush_queue,
            flusher: Mutex::new(Some(flusher)),
            cleaner: Mutex::new(None),
            offsets,
            group_coordinators: Mutex::new(Vec::new()),
            transactions,
            txn_sweeper: Mutex::new(None),
            partitioner: Partitioner::default(),
            producer_ids: Mutex::new((next_pid, next_pid)),
            closed: AtomicBool::new(false),
            _lock: lock,
        });
        let weak = Arc::downgrade(&inner);
        let cleaner = Cleaner::start(config.cleaner_interval, move || {
            weak.upgrade()
                .map(|i| i.topics.read().values().flat_map(|t| t.partitions()).collect())
                .unwrap_or_default()
        });
        *inner.cleaner.lock() = Some(cleaner);
        let weak = Arc::downgrade(&inner);
        let coordinator = inner.transactions.clone();
        let interval = config.transactions.abort_timed_out_interval;
        let sweeper = Periodic::start("brook-txn-timeouts", interval, move || {
            // Take a broker handle only when there is work, so an idle sweep never keeps a
            // dropped broker (and its data-directory lock) alive.
            if coordinator.needs_sweep(now_ms())
                && let Some(inner) = weak.upgrade()
            {
                let broker = Broker { inner };
                futures::executor::block_on(coordinator.abort_timed_out(&broker));
            }
        });
        *inner.txn_sweeper.lock() = Some(sweeper);
        let broker = Broker { inner };
        broker.inner.transactions.recover(&broker);
        Ok(broker)
    }

    /// The configuration the broker was opened with.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32, config: TopicConfig) -> Result<()> {
        validate_topic_name(name)?;
        if !(1..=100_000).contains(&partitions) {
            return Err(Error::InvalidPartitions(format!(
                "{partitions} partitions requested; use between 1 and 100000"
            )));
        }
        config.resolve()?;
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(name) {
            return Err(Error::TopicAlreadyExists(name.to_string()));
        }
        let topics_dir = self.inner.config.data_dir.join("topics");
        let topic = new_topic(&topics_dir, name, partitions, config, &self.inner.flush_queue)?;
        self.inner.topics.write().insert(name.to_string(), topic);
        Ok(())
    }

    /// Deletes a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        if name == OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC {
            return Err(Error::InvalidConfig(format!("the internal topic {name} cannot be deleted")));
        }
        let _admin = self.inner.admin.lock();
        let topic = self
            .inner
            .topics
            .write()
            .remove(name)
            .ok_or_else(|| Error::UnknownTopicOrPartition(name.to_string()))?;
        for p in topic.partitions() {
            p.mark_deleted();
        }
        let trash = topic.dir.with_file_name(format!(".deleted-{name}-{}", now_ms()));
        std::fs::rename(&topic.dir, &trash)
            .map_err(Error::io(format!("deleting {}", topic.dir.display())))?;
        let _ = sync_dir(&self.inner.config.data_dir.join("topics"));
        std::thread::spawn(move || {
            let _ = std::fs::remove_dir_all(trash);
        });
        Ok(())
    }

    /// Adds partitions so the topic has `total` of them (never fewer than now).
    pub fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let current = topic.partition_count();
        if total <= current {
            return Err(Error::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be larger, not {total}"
            )));
        }
        let config = topic.config().resolve()?;
        let mut parts = topic.partitions.write();
        for p in current..total {
            let log = PartitionLog::open(
                name,
                p,
                &topic.dir.join(p.to_string()),
                config.clone(),
                false,
                self.inner.flush_queue.clone(),
            )?;
            self.inner.flush_queue.register(&log);
            parts.push(log);
        }
        drop(parts);
        topic.save()
    }

    /// Changes topic configs: `Some(v)` sets, `None` resets to the default.
    pub fn alter_topic_config(&self, name: &str, changes: &[(String, Option<String>)]) -> Result<()> {
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let mut config = topic.config();
        for (k, v) in changes {
            match v {
                Some(v) => config.overrides.insert(k.clone(), v.clone()),
                None => config.overrides.remove(k),
            };
        }
        let resolved = config.resolve()?;
        *topic.config.write() = config;
        for p in topic.partitions() {
            p.set_config(resolved.clone());
        }
        topic.save()
    }

    /// Replaces all config overrides of a topic (Kafka's non-incremental AlterConfigs).
    pub fn replace_topic_config(&self, name: &str, config: TopicConfig) -> Result<()> {
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let resolved = config.resolve()?;
        *topic.config.write() = config;
        for p in topic.partitions() {
            p.set_config(resolved.clone());
        }
        topic.save()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.inner
            .topics
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition(name.to_string()))
    }

    /// Names of all topics, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Full description of a topic.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        Ok(TopicDescription {
            name: topic.name.clone(),
            id: topic.id,
            internal: topic.is_internal(),
            partitions: topic.partitions().iter().map(|p| p.stats()).collect(),
            config: topic.config(),
        })
    }

    /// One partition's log.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionLog>> {
        self.topic(topic)?
            .partition(partition)
            .ok_or_else(|| Error::UnknownTopicOrPartition(format!("{topic}-{partition}")))
    }

    /// Appends a raw RecordBatch v2 (as sent by a Kafka client) to a partition.
    pub fn append(&self, topic: &str, partition: i32, batch: BytesMut) -> Result<AppendInfo> {
        self.partition(topic, partition)?.append(batch)
    }

    /// Produces records, choosing partitions with Kafka's default partitioner unless
    /// `partition` is given. One batch is written per partition.
    pub fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        records: Vec<NewRecord>,
    ) -> Result<ProduceResult> {
        let t = self.topic(topic)?;
        let count = t.partition_count();
        let now = now_ms();
        let mut builders: BTreeMap<i32, (RecordBatchBuilder, Vec<usize>)> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let p = match partition {
                Some(p) => p,
                None => self.inner.partitioner.partition(r.key.as_deref(), count),
            };
            let entry = builders.entry(p).or_insert_with(|| (RecordBatchBuilder::new(now), Vec::new()));
            entry.0.push(r);
            entry.1.push(i);
        }
        let mut placed = vec![(0, 0); records.len()];
        for (p, (builder, indices)) in builders {
            let log = t.partition(p).ok_or_else(|| Error::UnknownTopicOrPartition(format!("{topic}-{p}")))?;
            let info = log.append(builder.finish())?;
            for (delta, i) in indices.into_iter().enumerate() {
                placed[i] = (p, info.base_offset + delta as i64);
            }
        }
        Ok(placed)
    }

    /// Waits until offsets below `end_offset` of a partition are durable.
    pub async fn wait_durable(&self, topic: &str, partition: i32, end_offset: i64) -> Result<()> {
        self.partition(topic, partition)?.wait_durable(end_offset).await
    }

    /// Whole stored batches from `offset` (see [`PartitionLog::fetch`]).
    pub fn fetch(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize) -> Result<FetchData> {
        self.partition(topic, partition)?.fetch(offset, max_bytes)
    }

    /// Decoded records from `offset`, reading at most about `max_bytes`.
    pub fn read(&self, topic: &str, partition: i32, offset: i64, max_bytes: usize) -> Result<Vec<Record>> {
        Ok(self.partition(topic, partition)?.read_records(offset, max_bytes)?.0)
    }

    /// Looks up an offset (earliest, latest, by timestamp).
    pub fn list_offset(&self, topic: &str, partition: i32, spec: OffsetSpec) -> Result<Option<(i64, i64)>> {
        self.partition(topic, partition)?.list_offset(spec)
    }

    /// Durably commits offsets of a consumer group.
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<(String, i32, OffsetAndMetadata)>,
    ) -> Result<()> {
        self.inner.offsets.commit(group, &offsets).await
    }

    /// The committed offset of a group for one partition.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<OffsetAndMetadata> {
        self.inner.offsets.fetch(group, topic, partition)
    }

    /// Deletes a consumer group, as Kafka's DeleteGroups does: fails with
    /// [`Error::NonEmptyGroup`] while a protocol server's coordinator has members in it, with
    /// [`Error::GroupIdNotFound`] if no coordinator knows it and it has no committed offsets;
    /// otherwise forgets the group and durably removes its committed offsets (returns once the
    /// removal is fsynced, so it holds after a restart).
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        if group.is_empty() {
            return Err(Error::InvalidGroupId(group.to_string()));
        }
        let coordinators: Vec<Arc<GroupCoordinator>> = {
            let mut attached = self.inner.group_coordinators.lock();
            attached.retain(|c| c.strong_count() > 0);
            attached.iter().filter_map(Weak::upgrade).collect()
        };
        let mut known = false;
        for c in &coordinators {
            known |= c.remove_if_empty(group)?;
        }
        let had_offsets = self.inner.offsets.delete_group(group).await?;
        if known || had_offsets { Ok(()) } else { Err(Error::GroupIdNotFound(group.to_string())) }
    }

    /// Lets [`Broker::delete_group`] consult `coordinator` about a group's members (the
    /// protocol server attaches its coordinator when it binds).
    pub(crate) fn attach_group_coordinator(&self, coordinator: Weak<GroupCoordinator>) {
        self.inner.group_coordinators.lock().push(coordinator);
    }

    /// The group offset store (all groups' committed offsets).
    pub fn group_offsets(&self) -> &GroupOffsetStore {
        &self.inner.offsets
    }

    /// The transaction coordinator (transactional producers, `brook txn`).
    pub fn transactions(&self) -> &TransactionCoordinator {
        &self.inner.transactions
    }

    /// Appends a transaction marker to a partition (the coordinator's markers). A marker in
    /// `__consumer_offsets` also resolves the producer's pending transactional offsets.
    pub(crate) fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        epoch: i16,
        marker: EndTxnMarker,
    ) -> Result<()> {
        self.partition(topic, partition)?.append_marker(producer_id, epoch, marker)?;
        if topic == OFFSETS_TOPIC {
            self.inner.offsets.complete_transaction(producer_id, marker.commit);
        }
        Ok(())
    }

    /// Allocates a new idempotent-producer id, unique across restarts.
    pub fn allocate_producer_id(&self) -> Result<i64> {
        const BLOCK: i64 = 1000;
        let mut ids = self.inner.producer_ids.lock();
        if ids.0 >= ids.1 {
            let end = ids.1 + BLOCK;
            // Persist the end of the block before handing out ids from it.
            write_durably(&self.inner.config.data_dir.join("producer-ids"), &end.to_string())?;
            ids.1 = end;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Runs retention and compaction on every partition now (normally done in the background).
    pub fn run_cleaner(&self) -> Result<()> {
        let topics: Vec<_> = self.inner.topics.read().values().cloned().collect();
        for t in topics {
            for p in t.partitions() {
                p.enforce_retention()?;
                p.compact()?;
            }
        }
        Ok(())
    }

    /// Shuts down cleanly: stops background work, fsyncs everything, writes indexes, and leaves
    /// a marker so the next open can skip recovery scans. Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(mut c) = self.inner.cleaner.lock().take() {
            c.stop();
        }
        if let Some(mut s) = self.inner.txn_sweeper.lock().take() {
            s.stop();
        }
        let topics: Vec<_> = self.inner.topics.read().values().cloned().collect();
        // Close every partition even if one fails; a failure (an offline partition) leaves no
        // clean-shutdown marker, so the next open runs full recovery.
        let mut failure = None;
        for t in &topics {
            for p in t.partitions() {
                if let Err(e) = p.close() {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(mut f) = self.inner.flusher.lock().take() {
            f.stop();
        }
        if let Some(e) = failure {
            return Err(e);
        }
        write_durably(&self.inner.config.data_dir.join(CLEAN_MARKER), "clean")?;
        Ok(())
    }
}

fn acquire_lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(format!("opening lock file {}", path.display())))?;
    // A lock just released can still be held for a moment by a child process of this one
    // that was forked (and not yet exec'd) while the file was open: retry briefly.
    for attempt in 0..20 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if attempt < 19 => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => break,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::Io { context: format!("locking {}", path.display()), source: e });
            }
        }
    }
    Err(Error::DataDirInUse(dir.to_path_buf()))
}

fn load_topic(dir: &Path, clean: bool, flush_queue: &Arc<FlushQueue>) -> Result<Arc<Topic>> {
    let meta_path = dir.join("topic.json");
    let data = std::fs::read(&meta_path).map_err(Error::io(format!("reading {}", meta_path.display())))?;
    let meta: TopicMeta = serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
        path: meta_path.clone(),
        position: e.column() as u64,
        reason: format!("topic metadata is not valid JSON: {e}"),
    })?;
    let config = meta.config.resolve()?;
    let mut partitions = Vec::new();
    for p in 0..meta.partitions {
        let log = PartitionLog::open(
            &meta.name,
            p,
            &dir.join(p.to_string()),
            config.clone(),
            clean,
            flush_queue.clone(),
        )?;
        flush_queue.register(&log);
        partitions.push(log);
    }
    Ok(Arc::new(Topic {
        name: meta.name,
        id: unhex(&meta.id),
        dir: dir.to_path_buf(),
        config: RwLock::new(meta.config),
        partitions: RwLock::new(partitions),
    }))
}

/// The single partition of an internal compacted topic, created on first open.
fn internal_log(
    topics: &mut BTreeMap<String, Arc<Topic>>,
    topics_dir: &Path,
    name: &str,
    flush_queue: &Arc<FlushQueue>,
) -> Result<Arc<PartitionLog>> {
    let topic = match topics.get(name) {
        Some(t) => t.clone(),
        None => {
            let config =
                TopicConfig::from_pairs([("cleanup.policy", "compact"), ("segment.bytes", "104857600")])?;
            let t = new_topic(topics_dir, name, 1, config, flush_queue)?;
            topics.insert(name.to_string(), t.clone());
            t
        }
    };
    topic.partition(0).ok_or_else(|| Error::UnknownTopicOrPartition(name.to_string()))
}

fn new_topic(
    topics_dir: &Path,
    name: &str,
    partitions: i32,
    config: TopicConfig,
    flush_queue: &Arc<FlushQueue>,
) -> Result<Arc<Topic>> {
    let dir = topics_dir.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(Error::io(format!("clearing {}", dir.display())))?;
    }
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let resolved = config.resolve()?;
    let mut logs = Vec::new();
    for p in 0..partitions {
        let log = PartitionLog::open(
            name,
            p,
            &dir.join(p.to_string()),
            resolved.clone(),
            true,
            flush_queue.clone(),
        )?;
        flush_queue.register(&log);
        logs.push(log);
    }
    let topic = Arc::new(Topic {
        name: name.to_string(),
        id: new_topic_id(name),
        dir,
        config: RwLock::new(config),
        partitions: RwLock::new(logs),
    });
    topic.save()?;
    sync_dir(topics_dir)?;
    Ok(topic)
}

/// Checks Kafka's topic naming rules.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let legal = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !legal {
        return Err(Error::InvalidTopicName(name.to_string()));
    }
    Ok(())
}

fn new_topic_id(name: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    id[..8].copy_from_slice(&(nanos as u64).to_be_bytes());
    id[8..12].copy_from_slice(&crate::partitioner::murmur2(name.as_bytes()).to_be_bytes());
    id[12..].copy_from_slice(&std::process::id().to_be_bytes());
    id[6] = (id[6] & 0x0f) | 0x40; // version 4 layout
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = s.get(i * 2..i * 2 + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    }
    out
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write_durably(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(Error::io(format!("writing {}", tmp.display())))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(Error::io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(Error::io(format!("renaming {}", tmp.display())))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}
