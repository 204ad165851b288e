//! A deterministic test driver, in the spirit of Kafka Streams' `TopologyTestDriver`.
//!
//! It instantiates every task of a topology in the calling thread, with in-memory (or RocksDB)
//! state, and no broker and no threads — each task opened, processed and flushed by the
//! runtime's own lifecycle steps ([`crate::runtime::lifecycle`]) around its [`RunningTask`],
//! with the topics checked by the runtime's topic preparation, so event time works exactly as
//! in production; its clock is a [`ManualClock`]. [`TopologyTestDriver::pipe`] hands a record
//! to the task that owns its partition, processes it, and routes every output record: records for
//! topics the topology itself reads (repartition topics, through-topics, and the watermark
//! reports that go with them) are processed immediately, in FIFO order; everything else is
//! captured for [`TopologyTestDriver::read_output`]. Event time moves only with the records
//! piped in, and idle inputs only with [`TopologyTestDriver::advance_wall_clock`], so results
//! are fully reproducible.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use brook_broker::partitioner::partition_for_key;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::record::{Header, InputRecord, OutputRecord, Record};
use crate::runtime::clock::{Clock, ManualClock};
use crate::runtime::lifecycle::{SourceStart, TaskSetup, checkpoint, open_task, process_task};
use crate::runtime::task_runner::{EventTiming, RunningTask};
use crate::runtime::topics::{NewTopicSpec, TopicAdmin, prepare_topics};
use crate::serde::SerdeRef;
use crate::state::StateConfig;
use crate::task::{ProcessingError, TaskId, TaskMetrics};
use crate::time::{REPORT_HEADER, time_plan};
use crate::topology::Topology;

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
    /// How long (on the driver's wall clock) an input partition that received nothing holds
    /// back event time before it is idle: see [`crate::time`]. The wall clock starts at 0 and
    /// moves only with [`TopologyTestDriver::advance_wall_clock`].
    pub max_task_idle_ms: i64,
}

impl Default for TestDriverConfig {
    fn default() -> Self {
        TestDriverConfig {
            application_id: "test-app".into(),
            default_partitions: 1,
            partitions: HashMap::new(),
            state: StateConfig::Memory,
            max_task_idle_ms: crate::runtime::DEFAULT_MAX_TASK_IDLE_MS,
        }
    }
}

/// Runs a topology synchronously for tests.
pub struct TopologyTestDriver {
    topology: Topology,
    config: TestDriverConfig,
    tasks: BTreeMap<TaskId, RunningTask>,
    /// topic → (sub-topology, source index) pairs that read it.
    readers: HashMap<String, Vec<(usize, usize)>>,
    offsets: HashMap<(String, i32), i64>,
    outputs: HashMap<String, VecDeque<OutputRecord>>,
    round_robin: u32,
    clock: ManualClock,
    errors: Mutex<Vec<ProcessingError>>,
}

impl TopologyTestDriver {
    /// A driver with one partition per topic and in-memory state.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_config(topology, TestDriverConfig::default())
    }

    /// A driver with explicit options.
    pub fn with_config(mut topology: Topology, config: TestDriverConfig) -> Result<Self> {
        topology.resolve_names(&config.application_id);
        let layout = prepare_topics(&topology, &config.application_id, &config, false)?;
        let plan = time_plan(&topology, &config.application_id, |t| layout.partitions(t));
        let setup = TaskSetup {
            application_id: &config.application_id,
            state: &config.state,
            plan: &plan,
            // Every change is delivered at once: report every watermark change, and only then.
            timing: EventTiming { idle_timeout_ms: config.max_task_idle_ms, report_interval_ms: 0 },
        };
        let clock = ManualClock::default();
        let mut tasks = BTreeMap::new();
        for id in layout.tasks(&topology) {
            let sources = topology.subtopologies[id.subtopology].sources.len();
            let mut task =
                open_task(&topology, &setup, id, &vec![SourceStart::at(0); sources], clock.now_ms(), None)?;
            // Nothing is ever in flight: every reader is at its partition's end.
            task.caught_up.iter_mut().for_each(|c| *c = true);
            tasks.insert(id, task);
        }
        let readers = topology.readers();
        let mut driver = TopologyTestDriver {
            topology,
            config,
            tasks,
            readers,
            offsets: HashMap::new(),
            outputs: HashMap::new(),
            round_robin: 0,
            clock,
            errors: Mutex::new(Vec::new()),
        };
        // First reports (and windows an idle timeout of 0 lets close) go out now.
        driver.tick()?;
        Ok(driver)
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
        self.deliver(VecDeque::from([(out, true)]))
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

    /// Delivers records (and everything they cause) in FIFO order; `true` marks the piped
    /// input, which is not captured as output.
    fn deliver(&mut self, mut queue: VecDeque<(OutputRecord, bool)>) -> Result<()> {
        while let Some((rec, input)) = queue.pop_front() {
            for task in self.route(rec, input)? {
                self.run(task, &mut queue)?;
            }
        }
        Ok(())
    }

    /// Processes what `task` has buffered and queues its outputs.
    fn run(&mut self, id: TaskId, queue: &mut VecDeque<(OutputRecord, bool)>) -> Result<()> {
        let task = self.tasks.get_mut(&id).ok_or_else(|| Error::Topology(format!("no task {id}")))?;
        process_task(task, &self.clock, &self.errors)?;
        queue.extend(task.ctx.output.drain(..).map(|r| (r, false)));
        Ok(())
    }

    /// Lets every task look at the time again (idleness, reports) and delivers the results.
    fn tick(&mut self) -> Result<()> {
        let mut queue = VecDeque::new();
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        for id in ids {
            self.run(id, &mut queue)?;
        }
        self.deliver(queue)
    }

    /// Appends a record to its topic partition and buffers it in the tasks reading it, which
    /// it returns; captures it unless it is the initial input or a watermark report.
    fn route(&mut self, mut rec: OutputRecord, input: bool) -> Result<Vec<TaskId>> {
        if let Some(cb) = self.topology.callback(&rec.topic) {
            cb(&rec);
            return Ok(Vec::new());
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
        let report = rec.headers.first().is_some_and(|h| h.key.as_ref() == REPORT_HEADER);
        if !input && !report {
            self.outputs.entry(rec.topic.clone()).or_default().push_back(rec.clone());
        }
        let Some(readers) = self.readers.get(&rec.topic).cloned() else { return Ok(Vec::new()) };
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
        let mut reached = Vec::with_capacity(readers.len());
        for (sub, source) in readers {
            let id = TaskId { subtopology: sub, partition };
            let task = self.tasks.get_mut(&id).ok_or_else(|| {
                Error::Topology(format!("no task {id} for {}-{partition}", input_record.topic))
            })?;
            task.push(source, std::iter::once(input_record.clone()), self.clock.now_ms());
            reached.push(id);
        }
        Ok(reached)
    }

    /// Moves wall-clock time forward (for wall-clock punctuation and idle inputs), and lets
    /// every task act on it: inputs that received nothing for `max_task_idle_ms` go idle, so
    /// event time (and EMIT FINAL windows) can move on without them.
    pub fn advance_wall_clock(&mut self, ms: i64) -> Result<()> {
        self.clock.advance(ms);
        self.tick()
    }

    /// The watermark of every task.
    pub fn watermarks(&self) -> BTreeMap<TaskId, i64> {
        self.tasks.iter().map(|(id, t)| (*id, t.time().watermark())).collect()
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
        std::mem::take(self.errors.get_mut())
    }

    /// Flushes every task (as the runtime does before committing).
    pub fn flush(&mut self) -> Result<()> {
        checkpoint(self.tasks.values_mut()).map(drop)
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

/// Every topic exists, with its configured partition count.
impl TopicAdmin for TestDriverConfig {
    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        Ok(Some(partitions_of(self, topic)))
    }

    fn create(&self, topics: &[NewTopicSpec]) -> Result<()> {
        Err(Error::Topology(format!("the test driver has every topic already, asked to create {topics:?}")))
    }
}
