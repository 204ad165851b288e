//! Stream threads over an in-process broker: fetch and produce are function calls on the
//! [`Broker`], offsets are committed to its durable group-offset store.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brook_broker::{Broker, NewRecord, OffsetAndMetadata, OffsetSpec, TopicConfig};

use super::task_runner::RunningTask;
use super::{OffsetReset, Shared, StreamsConfig};
use crate::error::{Error, Result};
use crate::record::{InputRecord, OutputRecord};
use crate::state::memory::MemoryBackend;
use crate::state::rocksdb::RocksDbBackend;
use crate::state::{StateBackend, StateConfig};
use crate::task::{TaskBuilder, TaskId};
use crate::time::SubTopologyTime;
use crate::topology::Topology;

/// Creates topics the topology needs and starts the threads.
pub(super) fn start(
    broker: Broker,
    topology: Topology,
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<Vec<JoinHandle<()>>> {
    let app = &config.application_id;
    let internal: HashMap<String, &crate::topology::InternalTopic> =
        topology.internal_topics.iter().map(|t| (format!("{app}-{}", t.suffix), t)).collect();
    let mut max_external = 1;
    for topic in topology.source_topics() {
        if internal.contains_key(&topic) {
            continue;
        }
        let t = broker.topic(&topic).map_err(|_| {
            Error::Topology(format!(
                "source topic '{topic}' does not exist; create it before starting the application"
            ))
        })?;
        max_external = max_external.max(t.partition_count());
    }
    for (name, spec) in &internal {
        if broker.topic(name).is_err() {
            let config = TopicConfig::from_pairs(spec.config.clone())?;
            broker.create_topic(name, spec.partitions.unwrap_or(max_external), config)?;
        }
    }
    let mut tasks: Vec<(TaskId, usize)> = Vec::new();
    for sub in &topology.subtopologies {
        let counts: Vec<i32> = sub
            .sources
            .iter()
            .map(|t| broker.topic(t).map(|t| t.partition_count()))
            .collect::<Result<_, _>>()?;
        let n = counts.first().copied().unwrap_or(0);
        if counts.iter().any(|&c| c != n) {
            return Err(Error::Topology(format!(
                "topics {:?} must be co-partitioned (same partition count) to be joined or merged in one task, but have {counts:?}",
                sub.sources
            )));
        }
        for sink in &sub.sinks {
            if topology.callback(sink).is_none() && broker.topic(sink).is_err() {
                broker.create_topic(sink, n.max(1), TopicConfig::default())?;
            }
        }
        for p in 0..n {
            tasks.push((TaskId { subtopology: sub.id, partition: p }, sub.id));
        }
    }
    let plan = crate::time::time_plan(&topology, app, |t| broker.topic(t).map_or(1, |t| t.partition_count()));
    let threads = config.num_threads.min(tasks.len().max(1));
    shared.metrics.lock().resize(threads, crate::task::TaskMetrics::default());
    let topology = Arc::new(topology);
    let mut handles = Vec::new();
    for t in 0..threads {
        let mine: Vec<TaskId> = tasks.iter().skip(t).step_by(threads).map(|(id, _)| *id).collect();
        let (broker, topology, config, shared, plan) =
            (broker.clone(), topology.clone(), config.clone(), shared.clone(), plan.clone());
        let handle = std::thread::Builder::new()
            .name(format!("{}-stream-{t}", config.application_id))
            .spawn(move || {
                if let Err(e) = run_thread(t, &broker, &topology, &plan, &config, &shared, &mine) {
                    tracing::error!(error = %e, "stream thread failed");
                    *shared.failure.lock() = Some(e.to_string());
                }
            })
            .map_err(|source| Error::Io { context: "starting a stream thread".into(), source })?;
        handles.push(handle);
    }
    Ok(handles)
}

fn backend(config: &StreamsConfig, id: TaskId) -> (Box<dyn StateBackend>, usize) {
    match &config.state {
        StateConfig::Memory => (Box::new(MemoryBackend), 0),
        StateConfig::RocksDb { dir, block_cache_bytes, cache_entries } => (
            Box::new(RocksDbBackend::new(
                dir.join(&config.application_id).join(id.to_string()),
                *block_cache_bytes,
            )),
            *cache_entries,
        ),
    }
}

fn run_thread(
    thread: usize,
    broker: &Broker,
    topology: &Topology,
    plan: &[SubTopologyTime],
    config: &StreamsConfig,
    shared: &Shared,
    ids: &[TaskId],
) -> Result<()> {
    let group = &config.application_id;
    let mut tasks = Vec::new();
    for &id in ids {
        let sub = &topology.subtopologies[id.subtopology];
        let (mut backend, cache) = backend(config, id);
        let mut builder = TaskBuilder::new(id, group, backend.as_mut(), cache);
        let processor = (sub.factory)(&mut builder)?;
        let mut positions = Vec::new();
        let mut metadata = Vec::new();
        for topic in &sub.sources {
            let committed = broker.committed_offset(group, topic, id.partition);
            metadata.push(committed.as_ref().map(|c| c.metadata.clone()).unwrap_or_default());
            let pos = match committed {
                Some(c) => c.offset,
                None => {
                    let spec = match config.auto_offset_reset {
                        OffsetReset::Earliest => OffsetSpec::Earliest,
                        OffsetReset::Latest => OffsetSpec::Latest,
                    };
                    broker.list_offset(topic, id.partition, spec)?.map_or(0, |o| o.0)
                }
            };
            positions.push(pos);
        }
        let mut task = RunningTask::new(
            id,
            sub.sources.clone(),
            positions,
            processor,
            &plan[id.subtopology],
            config.timing(),
            brook_broker::util::now_ms(),
        );
        for (si, m) in metadata.iter().enumerate() {
            task.restore(si, m);
        }
        tasks.push(task);
    }
    let logs: Vec<Vec<_>> = tasks
        .iter()
        .map(|t| t.sources.iter().map(|s| broker.partition(s, t.id.partition)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()?;
    let topics: Vec<Vec<Arc<str>>> =
        tasks.iter().map(|t| t.sources.iter().map(|s| Arc::from(s.as_str())).collect()).collect();
    let mut written: HashMap<(String, i32), i64> = HashMap::new();
    let mut last_commit = Instant::now();
    let mut backoff = Duration::from_micros(200);
    let mut idle = false;
    loop {
        let stopping = shared.shutdown.load(Ordering::Acquire);
        let mut work = 0usize;
        for (ti, task) in tasks.iter_mut().enumerate() {
            for si in 0..task.sources.len() {
                if !task.buffers[si].is_empty() {
                    continue;
                }
                let log = &logs[ti][si];
                match log.read_records(task.positions[si], config.fetch_max_bytes) {
                    Ok((records, hw)) => {
                        if let Some(last) = records.last() {
                            task.positions[si] = last.offset + 1;
                        }
                        task.caught_up[si] = task.positions[si] >= hw;
                        let topic = &topics[ti][si];
                        let partition = task.id.partition;
                        let records = records.into_iter().map(|r| InputRecord {
                            topic: topic.clone(),
                            partition,
                            offset: r.offset,
                            timestamp: r.timestamp,
                            key: r.key,
                            value: r.value,
                            headers: r.headers,
                        });
                        task.push(si, records, brook_broker::util::now_ms());
                    }
                    Err(brook_broker::Error::OffsetOutOfRange { log_start, log_end, offset, .. }) => {
                        // Retention removed data we had not read yet: continue from what is left.
                        let to = if offset < log_start { log_start } else { log_end };
                        tracing::warn!(task = %task.id, offset, to, "position out of range; resetting");
                        task.positions[si] = to;
                        task.processed[si] = to;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            work += task.process_buffered(brook_broker::util::now_ms())?;
            write_outputs(broker, topology, &mut task.ctx.output, &mut written)?;
            if !task.ctx.errors.is_empty() {
                let mut errs = shared.errors.lock();
                if errs.len() < 10_000 {
                    errs.append(&mut task.ctx.errors);
                } else {
                    task.ctx.errors.clear();
                }
            }
        }
        if stopping || last_commit.elapsed() >= config.commit_interval {
            commit(thread, broker, group, &mut tasks, &mut written, shared)?;
            last_commit = Instant::now();
        }
        if stopping {
            return Ok(());
        }
        // A report still to go out keeps the thread from counting as idle: its readers'
        // windows are not closed yet.
        if work == 0 && !tasks.iter().any(|t| t.report_pending()) {
            if !idle {
                idle = true;
                shared.idle_threads.fetch_add(1, Ordering::AcqRel);
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(10));
        } else {
            if idle {
                idle = false;
                shared.idle_threads.fetch_sub(1, Ordering::AcqRel);
            }
            shared.activity.fetch_add(1, Ordering::AcqRel);
            if work == 0 {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(10));
            } else {
                backoff = Duration::from_micros(200);
            }
        }
    }
}

/// Upper bound on the payload bytes of one produced output batch.
const MAX_OUTPUT_BATCH_BYTES: usize = 256 << 10;

/// Writes queued output records, one produce call per run of records for the same topic.
fn write_outputs(
    broker: &Broker,
    topology: &Topology,
    output: &mut Vec<OutputRecord>,
    written: &mut HashMap<(String, i32), i64>,
) -> Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    let mut i = 0;
    let records = std::mem::take(output);
    while i < records.len() {
        let topic = records[i].topic.clone();
        let partition = records[i].partition;
        let mut j = i;
        while j < records.len() && records[j].topic == topic && records[j].partition == partition {
            j += 1;
        }
        if let Some(cb) = topology.callback(&topic) {
            records[i..j].iter().for_each(|r| cb(r));
        } else {
            // Keep each produced batch well under the default max.message.bytes (1 MiB).
            let mut start = i;
            while start < j {
                let mut end = start;
                let mut bytes = 0usize;
                while end < j && (end == start || bytes < MAX_OUTPUT_BATCH_BYTES) {
                    let r = &records[end];
                    bytes +=
                        32 + r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
                    end += 1;
                }
                let batch: Vec<NewRecord> = records[start..end]
                    .iter()
                    .map(|r| NewRecord {
                        key: r.key.clone(),
                        value: r.value.clone(),
                        headers: r.headers.clone(),
                        timestamp: Some(r.timestamp),
                    })
                    .collect();
                for (p, offset) in broker.produce(&topic, partition, batch)? {
                    let e = written.entry((topic.clone(), p)).or_insert(0);
                    *e = (*e).max(offset + 1);
                }
                start = end;
            }
        }
        i = j;
    }
    Ok(())
}

/// Flushes state, waits until outputs are durable, then commits input positions.
fn commit(
    thread: usize,
    broker: &Broker,
    group: &str,
    tasks: &mut [RunningTask],
    written: &mut HashMap<(String, i32), i64>,
    shared: &Shared,
) -> Result<()> {
    let mut offsets = Vec::new();
    let mut metrics = crate::task::TaskMetrics::default();
    for t in tasks.iter_mut() {
        t.flush()?;
        for (si, topic) in t.sources.iter().enumerate() {
            let mut position = OffsetAndMetadata::new(t.processed[si]);
            position.metadata = t.commit_metadata(si);
            offsets.push((topic.clone(), t.id.partition, position));
        }
        metrics += t.ctx.metrics;
    }
    let pending: Vec<_> = written.drain().collect();
    futures::executor::block_on(async {
        for ((topic, p), end) in pending {
            broker.wait_durable(&topic, p, end).await?;
        }
        broker.commit_offsets(group, offsets).await
    })?;
    shared.metrics.lock()[thread] = metrics;
    Ok(())
}
