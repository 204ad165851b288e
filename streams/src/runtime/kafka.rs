//! Stream threads over a Kafka-protocol cluster, through librdkafka.
//!
//! Each thread is one member of the consumer group named after the application id and
//! subscribes to every source topic of the topology; the range assignor gives a member the
//! same partition numbers of co-partitioned topics, so each assigned partition number becomes
//! one task per sub-topology. Outputs go through an idempotent producer using Kafka's murmur2
//! partitioner, so keys land where the Java client and the embedded broker put them. Before
//! offsets are committed, state is flushed and the producer is flushed (every output
//! acknowledged, or the commit fails): at-least-once. The producer's delivery reports say
//! where each changelog record landed, which the tasks' checkpoint files record.
//!
//! A task that moves here restores its stores from their changelogs through a restore
//! consumer outside the group (assigned one changelog partition at a time).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Header as KHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::clock::Clock;
use super::io::{Fetched, Rejected, StreamIo, Tasks, Written};
use super::lifecycle::{SourcePosition, SourceStart};
use super::stream_thread::{ThreadContext, spawn};
use super::task_runner::RunningTask;
use super::topics::{NewTopicSpec, TopicAdmin, prepare_topics};
use super::{Connection, OffsetReset, ProcessingGuarantee, Shared, StreamsConfig};
use crate::error::{Error, Result};
use crate::record::{Header, InputRecord, OutputRecord};
use crate::state::changelog::{Change, ChangelogReader};
use crate::task::{TaskId, TaskMetrics};
use crate::time::{WatermarkReport, time_plan};
use crate::topology::Topology;

/// Records taken from the consumer in one pass, at most.
const MAX_POLL_RECORDS: usize = 50_000;
/// How long the first poll of a pass waits for a record.
const POLL_WAIT: Duration = Duration::from_millis(20);
/// How often the assignment, the partitions' high watermarks and the group's lag are asked.
const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

fn client_config(config: &StreamsConfig) -> Result<ClientConfig> {
    let Connection::Kafka { bootstrap, properties } = &config.connection else {
        return Err(Error::Config("not a Kafka connection".into()));
    };
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in properties {
        c.set(k, v);
    }
    Ok(c)
}

/// Creates topics the topology needs and starts the threads, which join the group.
pub(super) fn start(
    topology: Topology,
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<Vec<JoinHandle<()>>> {
    let base = client_config(config)?;
    let app = &config.application_id;
    let layout = prepare_topics(&topology, app, &KafkaAdmin::connect(&base)?, config.state_changelogs)?;
    let plan = Arc::new(time_plan(&topology, app, |t| layout.partitions(t)));
    shared.metrics.lock().resize(config.num_threads, TaskMetrics::default());
    let cx = ThreadContext { topology: Arc::new(topology), plan, config: config.clone(), shared };
    (0..config.num_threads)
        .map(|t| {
            let base = base.clone();
            spawn(t, cx.clone(), move |cx| KafkaIo::connect(&base, &cx.topology, &cx.config, t))
        })
        .collect()
}

/// A cluster's topics as one metadata request saw them, and its admin API.
struct KafkaAdmin {
    base: ClientConfig,
    partitions: HashMap<String, i32>,
}

impl KafkaAdmin {
    fn connect(base: &ClientConfig) -> Result<Self> {
        let probe: BaseConsumer = base.create()?;
        let md = probe.fetch_metadata(None, Duration::from_secs(30))?;
        let partitions = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect();
        Ok(KafkaAdmin { base: base.clone(), partitions })
    }
}

impl TopicAdmin for KafkaAdmin {
    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self.partitions.get(topic).copied())
    }

    fn create(&self, specs: &[NewTopicSpec]) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.base.create()?;
        let topics: Vec<NewTopic<'_>> = specs
            .iter()
            .map(|s| {
                let topic = NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(1));
                s.config.iter().fold(topic, |t, (k, v)| t.set(k, v))
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in futures::executor::block_on(admin.create_topics(topics.iter(), &opts))? {
            if let Err((t, e)) = r
                && e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
            {
                return Err(Error::Kafka(format!("creating topic {t}: {e}")));
            }
        }
        Ok(())
    }
}

/// Where the producer's records landed since the last commit, and the first that failed.
#[derive(Default)]
struct Deliveries {
    /// topic → partition → offset after the last record delivered.
    ends: parking_lot::Mutex<HashMap<String, HashMap<i32, i64>>>,
    failure: parking_lot::Mutex<Option<String>>,
}

impl Deliveries {
    /// Takes what was delivered since the last call, or the first failure.
    fn take(&self) -> Result<Written> {
        if let Some(failure) = self.failure.lock().take() {
            return Err(Error::Kafka(failure));
        }
        let ends = std::mem::take(&mut *self.ends.lock());
        Ok(ends
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |(p, e)| ((t.clone(), p), e)))
            .collect())
    }
}

/// The producer's context: records every delivery report in [`Deliveries`].
struct DeliveryTracker(Arc<Deliveries>);

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let mut ends = self.0.ends.lock();
                let partitions = match ends.get_mut(m.topic()) {
                    Some(p) => p,
                    None => ends.entry(m.topic().to_string()).or_default(),
                };
                let end = partitions.entry(m.partition()).or_insert(0);
                *end = (*end).max(m.offset() + 1);
            }
            Err((e, m)) => {
                self.0.failure.lock().get_or_insert_with(|| {
                    format!("a record for {}-{} was not written: {e}", m.topic(), m.partition())
                });
            }
        }
    }
}

/// Whether a Kafka error code refuses a record for what it is (see
/// [`super::production`]), not because the cluster failed.
fn refuses_the_record(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTimestamp
            | RDKafkaErrorCode::InvalidMessageSize
    )
}

/// One thread's consumer-group member and producer.
///
/// Nothing here may hold librdkafka objects tied to the consumer past it (a partition list
/// from `position()` keeps partition handles alive, and destroying the consumer would wait for
/// them forever): positions are copied out.
struct KafkaIo {
    producer: ThreadedProducer<DeliveryTracker>,
    deliveries: Arc<Deliveries>,
    consumer: BaseConsumer,
    /// Reads changelogs back (outside the group), made when a task first restores.
    restorer: Option<BaseConsumer>,
    base: ClientConfig,
    application_id: String,
    /// Exactly-once: the producer is transactional and a transaction is open.
    transactional: bool,
    /// Sources of each sub-topology, by id.
    subtopologies: Vec<Vec<String>>,
    /// topic → (sub-topology, source index) reading it.
    readers: HashMap<String, Vec<(usize, usize)>>,
    topic_names: HashMap<String, Arc<str>>,
    /// The consumer's position per partition after the last fetch.
    positions: HashMap<(String, i32), i64>,
    /// High watermark per partition, with when it was asked.
    highs: HashMap<(String, i32), (i64, Instant)>,
    last_assignment_check: Instant,
    last_lag_check: Instant,
    lag_free: bool,
}

impl KafkaIo {
    fn connect(
        base: &ClientConfig,
        topology: &Topology,
        config: &StreamsConfig,
        thread: usize,
    ) -> Result<Self> {
        let transactional = config.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2;
        let reset = match config.auto_offset_reset {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        };
        let consumer: BaseConsumer = base
            .clone()
            .set("group.id", &config.application_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", reset)
            .set("partition.assignment.strategy", "range")
            .set("isolation.level", "read_committed")
            .create()?;
        let deliveries = Arc::new(Deliveries::default());
        let mut producer_config = base.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random");
        if transactional {
            // One transactional producer per stream thread, as Kafka Streams' EOS v2 names it;
            // a zombie is fenced by the group generation its offsets carry (KIP-447).
            producer_config
                .set("transactional.id", format!("{}-{}-{thread}", config.application_id, process_id()))
                .set("transaction.timeout.ms", "10000");
        }
        let producer: ThreadedProducer<DeliveryTracker> =
            producer_config.create_with_context(DeliveryTracker(deliveries.clone()))?;
        if transactional {
            producer.init_transactions(Duration::from_secs(60))?;
            producer.begin_transaction()?;
        }
        let sources = topology.source_topics();
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        Ok(KafkaIo {
            producer,
            deliveries,
            consumer,
            restorer: None,
            base: base.clone(),
            application_id: config.application_id.clone(),
            transactional,
            subtopologies: topology.subtopologies.iter().map(|s| s.sources.clone()).collect(),
            readers: topology.readers(),
            topic_names: sources.iter().map(|s| (s.clone(), Arc::from(s.as_str()))).collect(),
            positions: HashMap::new(),
            highs: HashMap::new(),
            last_assignment_check: Instant::now(),
            last_lag_check: Instant::now(),
            lag_free: false,
        })
    }

    /// The record a consumed message carries, or `None` for a topic no task reads.
    fn input_record(&self, msg: &BorrowedMessage<'_>) -> Option<InputRecord> {
        let topic = self.topic_names.get(msg.topic())?;
        let headers = msg
            .headers()
            .map(|h| {
                h.iter()
                    .map(|KHeader { key, value }| Header {
                        key: bytes::Bytes::copy_from_slice(key.as_bytes()),
                        value: value.map(bytes::Bytes::copy_from_slice),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(InputRecord {
            topic: topic.clone(),
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp: msg.timestamp().to_millis().unwrap_or(0),
            key: msg.key().map(bytes::Bytes::copy_from_slice),
            value: msg.payload().map(bytes::Bytes::copy_from_slice),
            headers,
        })
    }

    /// The high watermark of `topic`-`partition`, asked at most every [`REFRESH_INTERVAL`]
    /// (-1 if unknown).
    fn high_watermark(&mut self, topic: &str, partition: i32) -> i64 {
        let key = (topic.to_string(), partition);
        if let Some((high, at)) = self.highs.get(&key)
            && at.elapsed() < REFRESH_INTERVAL
        {
            return *high;
        }
        let high =
            self.consumer.fetch_watermarks(topic, partition, Duration::from_secs(1)).map_or(-1, |w| w.1);
        self.highs.insert(key, (high, Instant::now()));
        high
    }

    /// Sends one record, waiting while the producer's queue is full. A record the client
    /// refuses at once (larger than its `message.max.bytes`) is returned as [`Rejected`].
    fn send(&self, r: &OutputRecord) -> Result<Option<Rejected>> {
        let mut headers = OwnedHeaders::new();
        for h in &r.headers {
            headers =
                headers.insert(KHeader { key: &String::from_utf8_lossy(&h.key), value: h.value.as_deref() });
        }
        let mut rec: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&r.topic).timestamp(r.timestamp).headers(headers);
        if let Some(k) = &r.key {
            rec = rec.key(k.as_ref());
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v.as_ref());
        }
        if let Some(p) = r.partition {
            rec = rec.partition(p);
        }
        loop {
            match self.producer.send(rec) {
                Ok(()) => return Ok(None),
                Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((rdkafka::error::KafkaError::MessageProduction(code), _)) if refuses_the_record(code) => {
                    return Ok(Some(Rejected {
                        record: r.clone(),
                        error: Error::RecordRejected { topic: r.topic.clone(), reason: code.to_string() },
                    }));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
}

impl KafkaIo {
    /// Exactly-once commit: the positions join the open transaction (with the group's
    /// generation, so a zombie is fenced), the transaction commits, the next one begins. If
    /// that fails the transaction is aborted, the consumer goes back to the committed
    /// positions, and the thread reopens its tasks ([`Error::TaskMigrated`]).
    fn commit_transaction(&mut self, tpl: &TopicPartitionList) -> Result<Written> {
        let timeout = Duration::from_secs(60);
        let committed = (|| -> std::result::Result<(), rdkafka::error::KafkaError> {
            self.producer.flush(timeout)?;
            if tpl.count() > 0 {
                let group =
                    self.consumer.group_metadata().ok_or(rdkafka::error::KafkaError::NoMessageReceived)?;
                self.producer.send_offsets_to_transaction(tpl, &group, timeout)?;
            }
            self.producer.commit_transaction(timeout)
        })();
        let delivered = match self.deliveries.take() {
            Ok(written) => written,
            // A record the cluster refused is not a reason to retry: the query fails.
            Err(refused) => {
                let _ = self.producer.abort_transaction(timeout);
                return Err(refused);
            }
        };
        match committed {
            Ok(()) => {
                self.producer.begin_transaction()?;
                Ok(delivered)
            }
            Err(e) => {
                tracing::warn!(error = %e, "transaction failed; aborting it");
                self.producer.abort_transaction(timeout)?;
                self.rewind()?;
                self.producer.begin_transaction()?;
                Err(Error::TaskMigrated(e.to_string()))
            }
        }
    }

    /// Moves the consumer back to the group's committed positions of its assignment (where
    /// none is committed, to where `auto.offset.reset` says).
    fn rewind(&mut self) -> Result<()> {
        let assignment = self.consumer.assignment()?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = self.consumer.committed_offsets(assignment, Duration::from_secs(30))?;
        let mut seek = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            seek.add_partition_offset(e.topic(), e.partition(), offset)?;
        }
        self.consumer.seek_partitions(seek, Duration::from_secs(30))?;
        self.positions.clear();
        Ok(())
    }
}

/// Leaves the group before the consumer is destroyed: librdkafka's close revokes the assignment
/// through a rebalance callback whose `assign` can wait forever when the group is rebalancing at
/// that moment (librdkafka issue #4884; a SQL query dropped while another server's member
/// joined hung its engine). Unsubscribing first revokes the assignment in an ordinary poll,
/// so the close has nothing left to revoke.
impl Drop for KafkaIo {
    fn drop(&mut self) {
        self.consumer.unsubscribe();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let _ = self.consumer.poll(Duration::from_millis(50));
            if self.consumer.assignment().map_or(true, |a| a.count() == 0) {
                break;
            }
        }
    }
}

impl StreamIo for KafkaIo {
    /// The tasks whose every source partition the group assigned to this member, looked at
    /// every [`REFRESH_INTERVAL`]. A task exists for every assigned partition, data or not:
    /// one whose partitions stay empty must still go idle and report so, or the readers of
    /// its repartition topics would wait on it forever.
    fn assignment(&mut self) -> Result<Option<BTreeSet<TaskId>>> {
        if self.last_assignment_check.elapsed() < REFRESH_INTERVAL {
            return Ok(None);
        }
        self.last_assignment_check = Instant::now();
        let assigned: BTreeSet<(String, i32)> = self
            .consumer
            .assignment()?
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let mut tasks = BTreeSet::new();
        for (subtopology, sources) in self.subtopologies.iter().enumerate() {
            let Some(first) = sources.first() else { continue };
            for (_, p) in assigned.iter().filter(|(t, _)| t == first) {
                if sources.iter().all(|s| assigned.contains(&(s.clone(), *p))) {
                    tasks.insert(TaskId { subtopology, partition: *p });
                }
            }
        }
        Ok(Some(tasks))
    }

    /// Positions are the consumer's (-1 here); where the writers of internal topics were
    /// comes from what the task's previous owner committed.
    fn start(&mut self, id: TaskId, sources: &[String]) -> Result<Vec<SourceStart>> {
        let mut starts = vec![SourceStart::at(-1); sources.len()];
        let mut tpl = TopicPartitionList::new();
        for topic in sources {
            tpl.add_partition(topic, id.partition);
        }
        if let Ok(committed) = self.consumer.committed_offsets(tpl, Duration::from_secs(5)) {
            for (start, topic) in starts.iter_mut().zip(sources) {
                if let Some(e) = committed.find_partition(topic, id.partition) {
                    start.metadata = e.metadata().to_string();
                }
            }
        }
        Ok(starts)
    }

    fn poll(&mut self, tasks: &mut Tasks, clock: &dyn Clock) -> Result<Fetched> {
        let mut fetched = Fetched::default();
        let mut timeout = POLL_WAIT;
        for _ in 0..MAX_POLL_RECORDS {
            let Some(msg) = self.consumer.poll(timeout) else { break };
            timeout = Duration::ZERO;
            let Some(rec) = self.input_record(&msg?) else { continue };
            if !WatermarkReport::is_report(&rec) {
                fetched.data += 1;
            }
            let now = clock.now_ms();
            for &(subtopology, si) in &self.readers[rec.topic.as_ref()] {
                let id = TaskId { subtopology, partition: rec.partition };
                match tasks.get_mut(&id) {
                    Some(task) => task.push(si, std::iter::once(rec.clone()), now),
                    None => fetched.unowned.push((id, si, rec.clone())),
                }
            }
        }
        self.positions.clear();
        for e in self.consumer.position()?.elements() {
            if let Offset::Offset(o) = e.offset() {
                self.positions.insert((e.topic().to_string(), e.partition()), o);
            }
        }
        Ok(fetched)
    }

    /// A source with nothing buffered is caught up when the consumer's position has reached
    /// the partition's high watermark. Until then a task with other input waits for it, so
    /// joins see inputs in timestamp order (at most `max.task.idle.ms`), and the source
    /// cannot go idle for event time.
    fn fill(&mut self, task: &mut RunningTask, _clock: &dyn Clock) -> Result<usize> {
        for si in 0..task.sources.len() {
            if !task.buffers[si].is_empty() {
                continue;
            }
            let (topic, partition) = (&task.sources[si], task.id.partition);
            let high = self.high_watermark(topic, partition);
            let position = self.positions.get(&(topic.clone(), partition));
            task.caught_up[si] = matches!(position, Some(&p) if high >= 0 && p >= high);
        }
        Ok(0)
    }

    fn write(&mut self, _topic: &str, records: &[OutputRecord]) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        for r in records {
            rejected.extend(self.send(r)?);
        }
        Ok(rejected)
    }

    fn commit(&mut self, positions: Vec<SourcePosition>) -> Result<Written> {
        let mut tpl = TopicPartitionList::new();
        for p in &positions {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.offset))?;
            if let Some(mut e) = tpl.find_partition(&p.topic, p.partition) {
                e.set_metadata(p.metadata.clone());
            }
        }
        if self.transactional {
            return self.commit_transaction(&tpl);
        }
        self.producer.flush(Duration::from_secs(60))?;
        let written = self.deliveries.take()?;
        if tpl.count() == 0 {
            return Ok(written);
        }
        match self.consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => Ok(written),
            // The group is rebalancing (a member joined or left): this commit is refused, the
            // next one after the rebalance goes through, and partitions that moved meanwhile
            // are re-read by their new owner from the last commit (at-least-once).
            Err(rdkafka::error::KafkaError::ConsumerCommit(code)) => {
                tracing::warn!(error = %code, "offset commit refused during a rebalance; will retry");
                Ok(written)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Quiet is not caught up until the group has given this member partitions and it has
    /// read them to their ends (a member that is still joining looks quiet too).
    fn caught_up(&mut self, quiet: bool) -> bool {
        if !quiet {
            self.lag_free = false;
            return false;
        }
        if self.last_lag_check.elapsed() >= REFRESH_INTERVAL {
            self.last_lag_check = Instant::now();
            self.lag_free = consumer_caught_up(&self.consumer);
        }
        self.lag_free
    }

    fn fetch_waits(&self) -> bool {
        true
    }

    fn release(&mut self, _id: TaskId) {}
}

/// Identifies this process in transactional ids (Kafka Streams uses a random process UUID).
fn process_id() -> String {
    use std::sync::OnceLock;
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{:x}{:x}", std::process::id(), nanos)
    })
    .clone()
}

/// Records taken into one batch of changes while restoring, at most.
const RESTORE_BATCH: usize = 10_000;
/// How long restoring may go without reading anything before it fails.
const RESTORE_STALL: Duration = Duration::from_secs(60);

impl ChangelogReader for KafkaIo {
    /// Assigns the partition to the restore consumer at `from` and reads to the high
    /// watermark asked before reading; the consumer's position (which passes transaction
    /// markers and compacted gaps) says when it is there.
    fn read_changelog(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        apply: &mut dyn FnMut(Vec<Change>) -> Result<()>,
    ) -> Result<i64> {
        if self.restorer.is_none() {
            let consumer: BaseConsumer = self
                .base
                .clone()
                .set("group.id", format!("{}-restore", self.application_id))
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest")
                .create()?;
            self.restorer = Some(consumer);
        }
        let consumer = self.restorer.as_ref().expect("made above");
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(30))?;
        if from > high {
            return Err(Error::ChangelogBehindCheckpoint {
                topic: topic.to_string(),
                partition,
                from,
                end: high,
            });
        }
        let start = from.max(low);
        if start >= high {
            return Ok(start);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        let read = restore_from(consumer, topic, partition, start, high, apply);
        consumer.unassign()?;
        read
    }
}

/// Reads the assigned `topic`-`partition` from `start` until the consumer's position reaches
/// `high`, applying the changes in batches.
fn restore_from(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    start: i64,
    high: i64,
    apply: &mut dyn FnMut(Vec<Change>) -> Result<()>,
) -> Result<i64> {
    let mut cursor = start;
    let mut progress = Instant::now();
    let mut batch: Vec<Change> = Vec::new();
    while cursor < high {
        match consumer.poll(Duration::from_millis(100)) {
            Some(msg) => {
                let msg = msg?;
                if msg.offset() >= high {
                    cursor = high;
                } else {
                    cursor = msg.offset() + 1;
                    if let Some(key) = msg.key() {
                        batch.push((
                            bytes::Bytes::copy_from_slice(key),
                            msg.payload().map(bytes::Bytes::copy_from_slice),
                        ));
                    }
                }
                progress = Instant::now();
                if batch.len() >= RESTORE_BATCH {
                    apply(std::mem::take(&mut batch))?;
                }
            }
            None => {
                let position = consumer.position()?;
                if let Some(Offset::Offset(p)) = position.find_partition(topic, partition).map(|e| e.offset())
                {
                    cursor = cursor.max(p.min(high));
                }
                if cursor < high && progress.elapsed() > RESTORE_STALL {
                    return Err(Error::Kafka(format!(
                        "restoring from {topic}-{partition}: no progress for {RESTORE_STALL:?} at offset {cursor} of {high}"
                    )));
                }
            }
        }
    }
    if !batch.is_empty() {
        apply(batch)?;
    }
    Ok(cursor)
}

/// Whether the consumer has an assignment and its position is at the end of every partition.
fn consumer_caught_up(consumer: &BaseConsumer) -> bool {
    let Ok(assignment) = consumer.assignment() else { return false };
    if assignment.count() == 0 {
        return false;
    }
    let Ok(positions) = consumer.position() else { return false };
    // Before its first fetch a partition has no position; its committed offset says where
    // the member will start.
    let committed = consumer.committed_offsets(assignment, Duration::from_secs(1)).ok();
    positions.elements().iter().all(|e| {
        let Ok((low, high)) = consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(1))
        else {
            return false;
        };
        let start = match e.offset() {
            Offset::Offset(pos) => pos,
            _ => match committed
                .as_ref()
                .and_then(|c| c.find_partition(e.topic(), e.partition()))
                .map(|c| c.offset())
            {
                Some(Offset::Offset(c)) => c,
                _ => low,
            },
        };
        start >= high
    })
}
