//! The deterministic executor: queries run in `TopologyTestDriver`s on one dedicated thread,
//! and every produced record is pushed synchronously through every query it reaches (outputs
//! are written to the broker and fed to the queries reading them, in FIFO order). Time moves
//! only with record timestamps, so results come out in a fixed order — what the
//! sqllogictest suite asserts.
//!
//! The drivers hold `Rc`s and cannot move between threads, so the state lives on one worker
//! thread and the executor sends it closures.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use brook_broker::NewRecord;
use brook_client::Cluster;
use brook_streams::OffsetReset;
use brook_streams::task::TaskMetrics;
use brook_streams::test_driver::{TestDriverConfig, TopologyTestDriver};
use brook_streams::topology::Topology;

use super::executor::{Executor, QueryOptions};
use super::result::Canceller;
use super::service::ServiceNames;
use crate::error::{Error, Result};

struct SimQuery {
    driver: TopologyTestDriver,
    sources: Vec<String>,
    /// Whether each output topic exists in the cluster (internal topics stay inside the
    /// driver), asked once per topic rather than per record.
    external: HashMap<String, bool>,
}

struct SimState {
    cluster: Arc<dyn Cluster>,
    names: ServiceNames,
    queries: BTreeMap<String, SimQuery>,
    errors: Vec<(String, String)>,
}

type Job = Box<dyn FnOnce(&mut SimState) + Send>;

/// Runs queries deterministically on a worker thread.
pub(crate) struct SimulatedExecutor {
    tx: mpsc::Sender<Job>,
}

impl SimulatedExecutor {
    pub(crate) fn new(cluster: Arc<dyn Cluster>, names: ServiceNames) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("brook-sql-simulated".into())
            .spawn(move || {
                let mut state = SimState { cluster, names, queries: BTreeMap::new(), errors: Vec::new() };
                while let Ok(job) = rx.recv() {
                    job(&mut state);
                }
            })
            .map_err(|source| Error::Io { context: "starting the simulated executor".into(), source })?;
        Ok(SimulatedExecutor { tx })
    }

    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut SimState) -> R + Send + 'static) -> Result<R> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send(Box::new(move |s| {
                let _ = rtx.send(f(s));
            }))
            .map_err(|_| Error::Internal("the simulated executor stopped".into()))?;
        rrx.recv().map_err(|_| Error::Internal("the simulated executor stopped".into()))
    }
}

fn driver_for(
    cluster: &dyn Cluster,
    topology: Topology,
    id: &str,
    opts: QueryOptions,
) -> Result<(TopologyTestDriver, Vec<String>)> {
    let mut topics: Vec<String> = topology.source_topics();
    for s in &topology.subtopologies {
        topics.extend(s.sinks.iter().cloned());
    }
    let mut partitions = HashMap::new();
    let mut max = 1;
    for t in &topics {
        if let Some(n) = cluster.partitions(t)? {
            max = max.max(n);
            partitions.insert(t.clone(), n);
        }
    }
    let sources: Vec<String> =
        topology.source_topics().into_iter().filter(|t| partitions.contains_key(t)).collect();
    // Internal topics get the partition count the plan asked for, as the runtime creates them.
    for t in &topology.internal_topics {
        if let Some(n) = t.partitions {
            partitions.insert(format!("{id}-{}", t.suffix), n);
        }
    }
    let config = TestDriverConfig {
        application_id: id.to_string(),
        default_partitions: max,
        partitions,
        max_task_idle_ms: opts.max_task_idle.as_millis() as i64,
        ..Default::default()
    };
    Ok((TopologyTestDriver::with_config(topology, config)?, sources))
}

/// All records of `topics`, merged across partitions by timestamp (each partition in offset
/// order), as the runtime would interleave them.
fn existing(cluster: &dyn Cluster, topics: &[String]) -> Result<Vec<(String, brook_broker::Record)>> {
    let mut runs: Vec<VecDeque<(String, brook_broker::Record)>> = Vec::new();
    for t in topics {
        let Some(n) = cluster.partitions(t)? else { continue };
        for p in 0..n {
            let mut run = VecDeque::new();
            cluster.scan(t, p, 0, &mut |r| run.push_back((t.clone(), r.clone())))?;
            runs.push(run);
        }
    }
    let mut out = Vec::new();
    loop {
        let next =
            runs.iter().enumerate().filter_map(|(i, r)| r.front().map(|(_, rec)| (rec.timestamp, i))).min();
        let Some((_, i)) = next else { break };
        if let Some(item) = runs[i].pop_front() {
            out.push(item);
        }
    }
    Ok(out)
}

impl SimState {
    /// Feeds one record to a query and returns what it wrote to broker topics.
    fn feed(&mut self, id: &str, topic: &str, r: &NewRecord) -> Result<Vec<(String, Vec<NewRecord>)>> {
        let Some(q) = self.queries.get_mut(id) else { return Ok(Vec::new()) };
        q.driver.pipe_raw(
            topic,
            r.key.as_deref(),
            r.value.as_deref(),
            r.timestamp.unwrap_or(0),
            r.headers.clone(),
        )?;
        let mut out = Vec::new();
        for t in q.driver.output_topics() {
            let records = q.driver.read_output(&t);
            if records.is_empty() {
                continue;
            }
            let external = match q.external.get(&t) {
                Some(&known) => known,
                None => {
                    let exists = self.cluster.partitions(&t)?.is_some();
                    q.external.insert(t.clone(), exists);
                    exists
                }
            };
            if !external {
                continue;
            }
            out.push((
                t,
                records
                    .into_iter()
                    .map(|o| NewRecord {
                        key: o.key,
                        value: o.value,
                        headers: o.headers,
                        timestamp: Some(o.timestamp),
                    })
                    .collect(),
            ));
        }
        for e in q.driver.take_errors() {
            self.errors.push((id.to_string(), format!("{}: {}", e.operator, e.reason)));
        }
        Ok(out)
    }

    /// Writes records and runs every query they reach, breadth first.
    fn produce(&mut self, topic: &str, records: Vec<NewRecord>) -> Result<()> {
        let mut queue = VecDeque::from([(topic.to_string(), records)]);
        while let Some((t, recs)) = queue.pop_front() {
            self.cluster.produce(&t, None, recs.clone())?;
            let readers: Vec<String> = self
                .queries
                .iter()
                .filter(|(_, q)| q.sources.contains(&t))
                .map(|(id, _)| id.clone())
                .collect();
            for r in &recs {
                for id in &readers {
                    queue.extend(self.feed(id, &t, r)?);
                }
            }
        }
        Ok(())
    }

    /// Replays what is already in a new query's sources (auto.offset.reset = earliest).
    fn replay(&mut self, id: &str) -> Result<()> {
        let Some(q) = self.queries.get(id) else { return Ok(()) };
        let records = existing(self.cluster.as_ref(), &q.sources)?;
        let mut queue = VecDeque::new();
        for (t, r) in records {
            let nr =
                NewRecord { key: r.key, value: r.value, headers: r.headers, timestamp: Some(r.timestamp) };
            queue.extend(self.feed(id, &t, &nr)?);
        }
        for (t, recs) in queue {
            self.produce(&t, recs)?;
        }
        Ok(())
    }
}

impl Executor for SimulatedExecutor {
    fn start(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<()> {
        let id = id.to_string();
        self.call(move |s| {
            let (driver, sources) =
                driver_for(s.cluster.as_ref(), topology, &s.names.query_application(&id), opts)?;
            s.queries.insert(id.clone(), SimQuery { driver, sources, external: HashMap::new() });
            if opts.reset == OffsetReset::Earliest {
                s.replay(&id)?;
            }
            Ok(())
        })?
    }

    fn stop(&mut self, id: &str, _cleanup: bool) -> Result<()> {
        let id = id.to_string();
        self.call(move |s| {
            s.queries.remove(&id);
        })
    }

    fn produce(&mut self, topic: &str, records: Vec<NewRecord>) -> Result<()> {
        let topic = topic.to_string();
        self.call(move |s| s.produce(&topic, records))?
    }

    fn push(&mut self, id: &str, topology: Topology, opts: QueryOptions) -> Result<Canceller> {
        // A deterministic push query sees what is already there, then ends.
        let id = id.to_string();
        self.call(move |s| {
            let id = s.names.transient_application(&id, "");
            let (driver, sources) = driver_for(s.cluster.as_ref(), topology, &id, opts)?;
            s.queries.insert(id.clone(), SimQuery { driver, sources, external: HashMap::new() });
            let result = if opts.reset == OffsetReset::Earliest { s.replay(&id) } else { Ok(()) };
            s.queries.remove(&id);
            result
        })??;
        Ok(Box::new(|| {}))
    }

    fn wait_idle(&self, _timeout: Duration) -> bool {
        true
    }

    fn failures(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn take_errors(&mut self) -> Vec<(String, String)> {
        self.call(|s| std::mem::take(&mut s.errors)).unwrap_or_default()
    }

    fn metrics(&self, id: &str) -> Option<TaskMetrics> {
        let id = id.to_string();
        self.call(move |s| s.queries.get(&id).map(|q| q.driver.metrics())).ok().flatten()
    }
}
