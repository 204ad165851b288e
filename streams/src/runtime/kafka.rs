//! Stream threads over a Kafka-protocol cluster, through librdkafka.
//!
//! Each thread is one member of the consumer group named after the application id and
//! subscribes to every source topic of the topology; the range assignor gives a member the
//! same partition numbers of co-partitioned topics, so each assigned partition number becomes
//! one task per sub-topology. Outputs go through an idempotent producer using Kafka's murmur2
//! partitioner, so keys land where the Java client and the embedded broker put them. Before
//! offsets are committed, state is flushed and the producer is flushed (every output
//! acknowledged): at-least-once.
//!
//! Known limit until changelog topics exist: a task that moves to another instance after a
//! rebalance starts with that instance's local state for it (empty if it never ran there).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header as KHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::task_runner::RunningTask;
use super::{Connection, OffsetReset, Shared, StreamsConfig};
use crate::error::{Error, Result};
use crate::record::{Header, InputRecord, OutputRecord};
use crate::state::memory::MemoryBackend;
use crate::state::rocksdb::RocksDbBackend;
use crate::state::{StateBackend, StateConfig};
use crate::task::{TaskBuilder, TaskId, TaskMetrics};
use crate::time::{SubTopologyTime, WatermarkReport};
use crate::topology::Topology;

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

pub(super) fn start(
    topology: Topology,
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<Vec<JoinHandle<()>>> {
    let base = client_config(config)?;
    let app = &config.application_id;
    // Topic metadata: sources must exist; internal topics are created.
    let probe: BaseConsumer = base.create()?;
    let md = probe.fetch_metadata(None, Duration::from_secs(30))?;
    let partitions: HashMap<String, i32> = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect();
    let internal: Vec<(String, &crate::topology::InternalTopic)> =
        topology.internal_topics.iter().map(|t| (format!("{app}-{}", t.suffix), t)).collect();
    let mut max_external = 1;
    for topic in topology.source_topics() {
        if internal.iter().any(|(n, _)| *n == topic) {
            continue;
        }
        let n = partitions.get(&topic).ok_or_else(|| {
            Error::Topology(format!(
                "source topic '{topic}' does not exist; create it before starting the application"
            ))
        })?;
        max_external = max_external.max(*n);
    }
    let mut to_create = Vec::new();
    for (name, spec) in &internal {
        if !partitions.contains_key(name) {
            to_create.push((name.clone(), spec.partitions.unwrap_or(max_external), spec.config.clone()));
        }
    }
    for sub in &topology.subtopologies {
        let n = sub.sources.iter().filter_map(|s| partitions.get(s)).copied().next().unwrap_or(max_external);
        for sink in &sub.sinks {
            let is_internal = internal.iter().any(|(i, _)| i == sink);
            if topology.callback(sink).is_none() && !partitions.contains_key(sink) && !is_internal {
                to_create.push((sink.clone(), n, Vec::new()));
            }
        }
    }
    if !to_create.is_empty() {
        let admin: AdminClient<DefaultClientContext> = base.create()?;
        let topics: Vec<NewTopic<'_>> = to_create
            .iter()
            .map(|(n, p, cfg)| {
                cfg.iter().fold(NewTopic::new(n, *p, TopicReplication::Fixed(1)), |t, (k, v)| t.set(k, v))
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
    }
    let created: HashMap<&str, i32> = to_create.iter().map(|(n, p, _)| (n.as_str(), *p)).collect();
    let plan = Arc::new(crate::time::time_plan(&topology, app, |t| {
        partitions.get(t).or_else(|| created.get(t)).copied().unwrap_or(1)
    }));
    let topology = Arc::new(topology);
    shared.metrics.lock().resize(config.num_threads, TaskMetrics::default());
    let mut handles = Vec::new();
    for t in 0..config.num_threads {
        let (topology, plan, config, shared) =
            (topology.clone(), plan.clone(), config.clone(), shared.clone());
        let handle = std::thread::Builder::new()
            .name(format!("{}-stream-{t}", config.application_id))
            .spawn(move || {
                if let Err(e) = run_thread(t, &topology, &plan, &config, &shared) {
                    tracing::error!(error = %e, "stream thread failed");
                    *shared.failure.lock() = Some(e.to_string());
                }
            })
            .map_err(|source| Error::Io { context: "starting a stream thread".into(), source })?;
        handles.push(handle);
    }
    Ok(handles)
}

fn run_thread(
    thread: usize,
    topology: &Topology,
    plan: &[SubTopologyTime],
    config: &StreamsConfig,
    shared: &Shared,
) -> Result<()> {
    let base = client_config(config)?;
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
        .create()?;
    let producer: ThreadedProducer<DefaultProducerContext> = base
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()?;
    let sources = topology.source_topics();
    let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    // topic → (sub-topology, source index)
    let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for sub in &topology.subtopologies {
        for (i, s) in sub.sources.iter().enumerate() {
            readers.entry(s.clone()).or_default().push((sub.id, i));
        }
    }
    let topic_arcs: HashMap<String, Arc<str>> =
        sources.iter().map(|s| (s.clone(), Arc::from(s.as_str()))).collect();
    let mut tasks: HashMap<TaskId, RunningTask> = HashMap::new();
    let mut waiting: HashMap<TaskId, Instant> = HashMap::new();
    let mut highs: HashMap<(String, i32), (i64, Instant)> = HashMap::new();
    let mut last_lag_check = Instant::now();
    // Counters of tasks this thread no longer runs.
    let mut retired = TaskMetrics::default();
    let mut lag_free = false;
    let mut last_commit = Instant::now();
    let mut last_assignment_check = Instant::now();
    let mut idle = false;
    loop {
        let stopping = shared.shutdown.load(Ordering::Acquire);
        // Records polled, and how many of them were data (watermark reports are not work an
        // application waiting to be idle should wait for).
        let (mut polled, mut data) = (0usize, 0usize);
        let mut timeout = Duration::from_millis(20);
        while polled < 50_000 {
            let Some(msg) = consumer.poll(timeout) else { break };
            timeout = Duration::ZERO;
            let msg = msg?;
            polled += 1;
            let topic = msg.topic();
            let Some(rs) = readers.get(topic) else { continue };
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
            let rec = InputRecord {
                topic: topic_arcs[topic].clone(),
                partition: msg.partition(),
                offset: msg.offset(),
                timestamp: msg.timestamp().to_millis().unwrap_or(0),
                key: msg.key().map(bytes::Bytes::copy_from_slice),
                value: msg.payload().map(bytes::Bytes::copy_from_slice),
                headers,
            };
            if !WatermarkReport::is_report(&rec) {
                data += 1;
            }
            let now = brook_broker::util::now_ms();
            for &(sub, si) in rs {
                let id = TaskId { subtopology: sub, partition: rec.partition };
                let task = match tasks.entry(id) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(new_task(&consumer, topology, plan, config, id)?)
                    }
                };
                task.push(si, std::iter::once(rec.clone()), now);
            }
        }
        let mut work = 0;
        let positions = consumer.position()?;
        for task in tasks.values_mut() {
            // A source with nothing buffered is "caught up" when the consumer's position has
            // reached the partition's high watermark (asked at most every 200 ms). Until
            // then a task with other input waits for it, so joins see inputs in timestamp
            // order — but never longer than max.task.idle.ms, as in Kafka Streams — and the
            // source cannot go idle for event time.
            let waited_too_long =
                waiting.get(&task.id).is_some_and(|since: &Instant| since.elapsed() >= config.max_task_idle);
            for (si, topic) in task.sources.iter().enumerate() {
                if !task.buffers[si].is_empty() {
                    continue;
                }
                let key = (topic.clone(), task.id.partition);
                let fresh = highs
                    .get(&key)
                    .is_some_and(|(_, at): &(i64, Instant)| at.elapsed() < Duration::from_millis(200));
                if !fresh {
                    let high = consumer
                        .fetch_watermarks(topic, task.id.partition, Duration::from_secs(1))
                        .map_or(-1, |w| w.1);
                    highs.insert(key.clone(), (high, Instant::now()));
                }
                let high = highs.get(&key).map_or(-1, |h| h.0);
                let pos = positions.find_partition(topic, task.id.partition).and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
                task.caught_up[si] = matches!(pos, Some(p) if high >= 0 && p >= high);
            }
            task.stop_waiting = waited_too_long;
            let n = task.process_buffered(brook_broker::util::now_ms())?;
            let pending = task.buffers.iter().any(|b| !b.is_empty());
            if n == 0 && pending {
                waiting.entry(task.id).or_insert_with(Instant::now);
            } else {
                waiting.remove(&task.id);
            }
            work += n;
            send_outputs(&producer, topology, &mut task.ctx.output)?;
            if !task.ctx.errors.is_empty() {
                shared.errors.lock().append(&mut task.ctx.errors);
            }
        }
        if stopping || last_commit.elapsed() >= config.commit_interval {
            commit(thread, &consumer, &producer, &mut tasks, retired, shared)?;
            last_commit = Instant::now();
        }
        if stopping {
            return Ok(());
        }
        if last_assignment_check.elapsed() >= Duration::from_millis(200) {
            last_assignment_check = Instant::now();
            let assigned: BTreeSet<(String, i32)> = consumer
                .assignment()?
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            tasks.retain(|id, t| {
                let keep = t.sources.iter().all(|s| assigned.contains(&(s.clone(), id.partition)));
                if !keep {
                    tracing::info!(task = %id, "task revoked by rebalance");
                    retired += t.ctx.metrics;
                }
                keep
            });
            // A task exists for every assigned partition, data or not: one whose partitions
            // stay empty must still go idle and report so, or the readers of its repartition
            // topics would wait on it forever.
            for sub in &topology.subtopologies {
                let Some(first) = sub.sources.first() else { continue };
                for (topic, p) in assigned.iter().filter(|(t, _)| t == first) {
                    let id = TaskId { subtopology: sub.id, partition: *p };
                    let all = sub.sources.iter().all(|s| assigned.contains(&(s.clone(), *p)));
                    if all && !tasks.contains_key(&id) {
                        tracing::debug!(task = %id, topic, "task assigned");
                        tasks.insert(id, new_task(&consumer, topology, plan, config, id)?);
                    }
                }
            }
        }
        let pending = tasks.values().any(|t| t.buffers.iter().any(|b| !b.is_empty()) || t.report_pending());
        let quiet = data == 0 && work == 0 && !pending;
        // Quiet is not idle until the group has given this member partitions and it has read
        // them to their ends (a member that is still joining looks quiet too).
        let caught_up = quiet && {
            if last_lag_check.elapsed() >= Duration::from_millis(200) {
                last_lag_check = Instant::now();
                lag_free = consumer_caught_up(&consumer);
            }
            lag_free
        };
        if !quiet {
            lag_free = false;
        }
        if caught_up {
            if !idle {
                idle = true;
                shared.idle_threads.fetch_add(1, Ordering::AcqRel);
            }
        } else {
            if idle {
                idle = false;
                shared.idle_threads.fetch_sub(1, Ordering::AcqRel);
            }
            shared.activity.fetch_add(1, Ordering::AcqRel);
        }
    }
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

fn new_task(
    consumer: &BaseConsumer,
    topology: &Topology,
    plan: &[SubTopologyTime],
    config: &StreamsConfig,
    id: TaskId,
) -> Result<RunningTask> {
    let sub = &topology.subtopologies[id.subtopology];
    let (mut backend, cache): (Box<dyn StateBackend>, usize) = match &config.state {
        StateConfig::Memory => (Box::new(MemoryBackend), 0),
        StateConfig::RocksDb { dir, block_cache_bytes, cache_entries } => (
            Box::new(RocksDbBackend::new(
                dir.join(&config.application_id).join(id.to_string()),
                *block_cache_bytes,
            )),
            *cache_entries,
        ),
    };
    let mut builder = TaskBuilder::new(id, &config.application_id, backend.as_mut(), cache);
    let processor = (sub.factory)(&mut builder)?;
    // Positions are tracked by the consumer; `processed` starts unknown (-1 = nothing yet).
    let mut task = RunningTask::new(
        id,
        sub.sources.clone(),
        vec![-1; sub.sources.len()],
        processor,
        &plan[id.subtopology],
        config.timing(),
        brook_broker::util::now_ms(),
    );
    // Where the writers of internal topics were, as the task's previous owner committed it.
    let mut tpl = TopicPartitionList::new();
    for topic in &sub.sources {
        tpl.add_partition(topic, id.partition);
    }
    if let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(5)) {
        for (si, topic) in sub.sources.iter().enumerate() {
            if let Some(e) = committed.find_partition(topic, id.partition) {
                task.restore(si, e.metadata());
            }
        }
    }
    Ok(task)
}

fn send_outputs(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topology: &Topology,
    output: &mut Vec<OutputRecord>,
) -> Result<()> {
    for r in output.drain(..) {
        if let Some(cb) = topology.callback(&r.topic) {
            cb(&r);
            continue;
        }
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
        let mut rec = rec;
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn commit(
    thread: usize,
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<DefaultProducerContext>,
    tasks: &mut HashMap<TaskId, RunningTask>,
    retired: TaskMetrics,
    shared: &Shared,
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    let mut metrics = retired;
    for t in tasks.values_mut() {
        t.flush()?;
        for (si, topic) in t.sources.iter().enumerate() {
            if t.processed[si] >= 0 {
                tpl.add_partition_offset(topic, t.id.partition, Offset::Offset(t.processed[si]))?;
                if let Some(mut e) = tpl.find_partition(topic, t.id.partition) {
                    e.set_metadata(t.commit_metadata(si));
                }
            }
        }
        metrics += t.ctx.metrics;
    }
    producer.flush(Duration::from_secs(60))?;
    if tpl.count() > 0 {
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {}
            // The group is rebalancing (a member joined or left): this commit is refused, the
            // next one after the rebalance goes through, and partitions that moved meanwhile
            // are re-read by their new owner from the last commit (at-least-once).
            Err(rdkafka::error::KafkaError::ConsumerCommit(code)) => {
                tracing::warn!(error = %code, "offset commit refused during a rebalance; will retry");
            }
            Err(e) => return Err(e.into()),
        }
    }
    shared.metrics.lock()[thread] = metrics;
    Ok(())
}
