//! A deterministic test driver, in the spirit of Kafka Streams' `TopologyTestDriver`.
//!
//! It instantiates every task of a topology in the calling thread, with in-memory (or RocksDB)
//! state, and no broker and no threads. [`TopologyTestDriver::pipe`] hands a record to the
//! task that owns its partition, processes it, advances that task's stream time, and routes
//! every output record: records for topics the topology itself reads (repartition topics,
//! through-topics) are processed immediately, in FIFO order; everything else is captured for
//! [`TopologyTestDriver::read_output`]. Time only moves with the records piped in (stream time)
//! and [`TopologyTestDriver::advance_wall_clock`], so results are fully reproducible.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use brook_broker::partitioner::partition_for_key;

use crate::error::{Error, Result};
use crate::record::{Header, InputRecord, OutputRecord, Record};
use crate::serde::SerdeRef;
use crate::state::memory::MemoryBackend;
use crate::state::rocksdb::RocksDbBackend;
use crate::state::{StateBackend, StateConfig};
use crate::task::{TaskBuilder, TaskContext, TaskId, TaskMetrics};
use crate::topology::{TaskProcessor, Topology};

struct DriverTask {
    processor: Box<dyn TaskProcessor>,
    ctx: TaskContext,
}

/// Options for the test driver.
#[derive(Debug, Clone)]
pub struct TestDriverConfig {
    /// Application id (internal topic prefix).
    pub application_id: String,
    /// Partitions of every topic unless listed in `partitions`.
    pub default_partitions: i32,
    /// Partition counts per topic.
    pub partitions: HashMap<String, i32>,
    /// State backend for tasks.
    pub state: StateConfig,
}

impl Default for TestDriverConfig {
    fn default() -> Self {
        TestDriverConfig {
            application_id: "test-app".into(),
            default_partitions: 1,
            partitions: HashMap::new(),
            state: StateConfig::Memory,
        }
    }
}

/// Runs a topology synchronously for tests.
pub struct TopologyTestDriver {
    topology: Topology,
    config: TestDriverConfig,
    tasks: BTreeMap<TaskId, DriverTask>,
    /// topic → (sub-topology, source index) pairs that read it.
    readers: HashMap<String, Vec<(usize, usize)>>,
    offsets: HashMap<(String, i32), i64>,
    outputs: HashMap<String, VecDeque<OutputRecord>>,
    round_robin: u32,
    wall_clock: i64,
}

impl TopologyTestDriver {
    /// A driver with one partition per topic and in-memory state.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_config(topology, TestDriverConfig::default())
    }

    /// A driver with explicit options.
    pub fn with_config(mut topology: Topology, config: TestDriverConfig) -> Result<Self> {
        topology.resolve_names(&config.application_id);
        let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut tasks = BTreeMap::new();
        for sub in &topology.subtopologies {
            let counts: Vec<i32> = sub.sources.iter().map(|t| partitions_of(&config, t)).collect();
            let n = counts.first().copied().unwrap_or(1);
            if counts.iter().any(|&c| c != n) {
                return Err(Error::Topology(format!(
                    "sources {:?} of sub-topology {} are not co-partitioned ({counts:?} partitions)",
                    sub.sources, sub.id
                )));
            }
            for (i, t) in sub.sources.iter().enumerate() {
                readers.entry(t.clone()).or_default().push((sub.id, i));
            }
            for p in 0..n {
                let id = TaskId { subtopology: sub.id, partition: p };
                let mut backend: Box<dyn StateBackend> = match &config.state {
                    StateConfig::Memory => Box::new(MemoryBackend),
                    StateConfig::RocksDb { dir, block_cache_bytes, .. } => Box::new(RocksDbBackend::new(
                        dir.join(&config.application_id).join(id.to_string()),
                        *block_cache_bytes,
                    )),
                };
                let cache = match &config.state {
                    StateConfig::RocksDb { cache_entries, .. } => *cache_entries,
                    StateConfig::Memory => 0,
                };
                let mut builder = TaskBuilder::new(id, &config.application_id, backend.as_mut(), cache);
                let processor = (sub.factory)(&mut builder)?;
                tasks.insert(id, DriverTask { processor, ctx: TaskContext::new(id) });
            }
        }
        Ok(TopologyTestDriver {
            topology,
            config,
            tasks,
            readers,
            offsets: HashMap::new(),
            outputs: HashMap::new(),
            round_robin: 0,
            wall_clock: 0,
        })
    }

    /// Pipes one raw record into `topic` (partitioned by its key, like a Kafka producer).
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<()> {
        let out = OutputRecord {
            topic: topic.to_string(),
            partition: None,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            timestamp,
            headers,
        };
        let mut queue = VecDeque::from([out]);
        let mut first = true;
        while let Some(rec) = queue.pop_front() {
            let deliver_only = first;
            first = false;
            self.route(rec, &mut queue, deliver_only)?;
        }
        Ok(())
    }

    /// Pipes a typed record.
    pub fn pipe<K: 'static, V: 'static>(
        &mut self,
        topic: &str,
        key_serde: &SerdeRef<K>,
        value_serde: &SerdeRef<V>,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<()> {
        let k = key_serde
            .serialize(key)
            .map_err(|reason| Error::Serialize { topic: topic.to_string(), reason })?;
        let v = value_serde
            .serialize(value)
            .map_err(|reason| Error::Serialize { topic: topic.to_string(), reason })?;
        self.pipe_raw(topic, k.as_deref(), v.as_deref(), timestamp, Vec::new())
    }

    /// Delivers a record to the tasks reading its topic, and captures it unless it is the
    /// initial input.
    fn route(
        &mut self,
        mut rec: OutputRecord,
        queue: &mut VecDeque<OutputRecord>,
        input: bool,
    ) -> Result<()> {
        if let Some(cb) = self.topology.callback(&rec.topic) {
            cb(&rec);
            return Ok(());
        }
        let partitions = partitions_of(&self.config, &rec.topic);
        let partition = match (rec.partition, &rec.key) {
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, partitions),
            (None, None) => {
                self.round_robin = self.round_robin.wrapping_add(1);
                (self.round_robin % partitions as u32) as i32
            }
        };
        rec.partition = Some(partition);
        let offset_slot = self.offsets.entry((rec.topic.clone(), partition)).or_insert(0);
        let offset = *offset_slot;
        *offset_slot += 1;
        if !input {
            self.outputs.entry(rec.topic.clone()).or_default().push_back(rec.clone());
        }
        let Some(readers) = self.readers.get(&rec.topic).cloned() else { return Ok(()) };
        let topic: Arc<str> = Arc::from(rec.topic.as_str());
        let input_record = InputRecord {
            topic,
            partition,
            offset,
            timestamp: rec.timestamp,
            key: rec.key,
            value: rec.value,
            headers: rec.headers,
        };
        for (sub, source) in readers {
            let id = TaskId { subtopology: sub, partition };
            let task = self.tasks.get_mut(&id).ok_or_else(|| {
                Error::Topology(format!("no task {id} for {}-{partition}", input_record.topic))
            })?;
            task.ctx.set_wall_clock(self.wall_clock);
            task.ctx.current = crate::task::RecordMeta {
                topic: input_record.topic.clone(),
                partition,
                offset,
                timestamp: input_record.timestamp,
            };
            task.ctx.metrics.records_in += 1;
            task.processor.process(source, std::slice::from_ref(&input_record), &mut task.ctx)?;
            task.ctx.observe_time(input_record.timestamp);
            let st = task.ctx.stream_time();
            task.processor.advance(st, &mut task.ctx)?;
            queue.extend(task.ctx.output.drain(..));
        }
        Ok(())
    }

    /// Moves wall-clock time forward (for wall-clock punctuation).
    pub fn advance_wall_clock(&mut self, ms: i64) {
        self.wall_clock += ms;
    }

    /// Takes every record written to `topic` so far.
    pub fn read_output(&mut self, topic: &str) -> Vec<OutputRecord> {
        let name = self.resolve(topic);
        self.outputs.get_mut(&name).map(|q| q.drain(..).collect()).unwrap_or_default()
    }

    /// Takes every record written to `topic`, decoded.
    pub fn read_typed<K: 'static, V: 'static>(
        &mut self,
        topic: &str,
        key_serde: &SerdeRef<K>,
        value_serde: &SerdeRef<V>,
    ) -> Result<Vec<Record<K, V>>> {
        self.read_output(topic)
            .into_iter()
            .map(|r| {
                let key = key_serde.deserialize(r.key.as_deref()).map_err(|reason| Error::Deserialize {
                    what: "key",
                    topic: topic.to_string(),
                    reason,
                })?;
                let value = value_serde.deserialize(r.value.as_deref()).map_err(|reason| {
                    Error::Deserialize { what: "value", topic: topic.to_string(), reason }
                })?;
                Ok(Record { key, value, timestamp: r.timestamp, headers: r.headers })
            })
            .collect()
    }

    /// Names of all topics that received output.
    pub fn output_topics(&self) -> Vec<String> {
        let mut v: Vec<_> = self.outputs.keys().cloned().collect();
        v.sort();
        v
    }

    /// Sum of all tasks' counters.
    pub fn metrics(&self) -> TaskMetrics {
        let mut m = TaskMetrics::default();
        for t in self.tasks.values() {
            m += t.ctx.metrics;
        }
        m
    }

    /// Processing errors recorded by tasks (records skipped), oldest first.
    pub fn take_errors(&mut self) -> Vec<crate::task::ProcessingError> {
        self.tasks.values_mut().flat_map(|t| std::mem::take(&mut t.ctx.errors)).collect()
    }

    /// Flushes every task (as the runtime does before committing).
    pub fn flush(&mut self) -> Result<()> {
        for t in self.tasks.values_mut() {
            t.processor.flush(&mut t.ctx)?;
        }
        Ok(())
    }

    fn resolve(&self, topic: &str) -> String {
        match topic.strip_prefix(crate::topology::INTERNAL_PREFIX) {
            Some(rest) => format!("{}-{rest}", self.config.application_id),
            None => topic.to_string(),
        }
    }
}

fn partitions_of(config: &TestDriverConfig, topic: &str) -> i32 {
    config.partitions.get(topic).copied().unwrap_or(config.default_partitions).max(1)
}
