//! A topology: what to run, built once and instantiated as tasks.
//!
//! ```text
//!   Topology
//!     ├─ SubTopology 0: sources [orders, customers] ─► processor graph ─► sinks
//!     └─ SubTopology 1: sources [app-agg-repartition] ─► …
//! ```
//!
//! A sub-topology is the unit of parallelism: the runtime creates one task per partition of its
//! (co-partitioned) source topics, and each task gets its own instance of the processor graph,
//! built by the sub-topology's factory, and its own state stores. Sub-topologies are separated
//! by repartition topics, exactly as in Kafka Streams.
//!
//! Both front ends produce this structure: the Rust DSL (`crate::dsl`) builds typed processor
//! chains, and the SQL layer builds Arrow-batch operators. The runtime only sees
//! [`TaskProcessor`].

use std::sync::Arc;

use crate::error::Result;
use crate::record::{InputRecord, OutputRecord};
use crate::task::{TaskBuilder, TaskContext};

/// The processors of one task. Built by a [`SubTopology`] factory, on the thread that runs it.
pub trait TaskProcessor {
    /// Processes records of source `source` (an index into [`SubTopology::sources`]), in
    /// offset order. The runtime interleaves sources by timestamp.
    fn process(&mut self, source: usize, records: &[InputRecord], ctx: &mut TaskContext) -> Result<()>;

    /// Stream time reached `watermark`: emit window results that became final, expire state.
    fn advance(&mut self, watermark: i64, ctx: &mut TaskContext) -> Result<()>;

    /// Makes state durable; called before input offsets are committed.
    fn flush(&mut self, _ctx: &mut TaskContext) -> Result<()> {
        Ok(())
    }
}

/// Builds a task's processors.
pub type TaskFactory = Arc<dyn Fn(&mut TaskBuilder<'_>) -> Result<Box<dyn TaskProcessor>> + Send + Sync>;

/// A callback that receives records sent to a named sink instead of a topic (used for
/// transient query results).
pub type CallbackSink = Arc<dyn Fn(&OutputRecord) + Send + Sync>;

/// A connected part of the topology between topics.
#[derive(Clone)]
pub struct SubTopology {
    /// Index in the topology.
    pub id: usize,
    /// Topics read, in the order the factory's source indexes refer to.
    pub sources: Vec<String>,
    /// Topics written.
    pub sinks: Vec<String>,
    /// Names of the state stores each task opens.
    pub stores: Vec<String>,
    /// Human-readable description of the processors, one per line.
    pub description: Vec<String>,
    /// Builds one task's processors.
    pub factory: TaskFactory,
}

/// A topic the runtime creates and owns (repartition and changelog-style topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// Name suffix; the runtime prefixes it with the application id.
    pub suffix: String,
    /// Partition count; `None` means "as many as the topology's input topics".
    pub partitions: Option<i32>,
    /// Topic configs.
    pub config: Vec<(String, String)>,
}

/// A complete topology.
#[derive(Clone, Default)]
pub struct Topology {
    /// The sub-topologies.
    pub subtopologies: Vec<SubTopology>,
    /// Topics created by the runtime.
    pub internal_topics: Vec<InternalTopic>,
    /// Named callback sinks.
    pub callbacks: Vec<(String, CallbackSink)>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

/// Marks an internal topic name in a topology before the application id is known.
pub const INTERNAL_PREFIX: &str = "${application.id}-";

impl Topology {
    /// A multi-line description (as Kafka Streams' `Topology#describe`).
    pub fn describe(&self) -> String {
        let mut out = String::from("Topologies:\n");
        for s in &self.subtopologies {
            out.push_str(&format!("  Sub-topology: {}\n", s.id));
            out.push_str(&format!("    Sources: {}\n", s.sources.join(", ")));
            for line in &s.description {
                out.push_str(&format!("    {line}\n"));
            }
            if !s.sinks.is_empty() {
                out.push_str(&format!("    Sinks: {}\n", s.sinks.join(", ")));
            }
            if !s.stores.is_empty() {
                out.push_str(&format!("    Stores: {}\n", s.stores.join(", ")));
            }
        }
        out
    }

    /// Replaces the internal-topic placeholder with the application id everywhere.
    pub fn resolve_names(&mut self, application_id: &str) {
        let fix = |t: &mut String| {
            if let Some(rest) = t.strip_prefix(INTERNAL_PREFIX) {
                *t = format!("{application_id}-{rest}");
            }
        };
        for s in &mut self.subtopologies {
            s.sources.iter_mut().for_each(fix);
            s.sinks.iter_mut().for_each(fix);
        }
    }

    /// All topics read by some sub-topology.
    pub fn source_topics(&self) -> Vec<String> {
        let mut v: Vec<String> = self.subtopologies.iter().flat_map(|s| s.sources.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// For each topic read by some sub-topology, the `(sub-topology id, source index)` pairs
    /// that read it.
    pub fn readers(&self) -> std::collections::HashMap<String, Vec<(usize, usize)>> {
        let mut readers: std::collections::HashMap<String, Vec<(usize, usize)>> = Default::default();
        for sub in &self.subtopologies {
            for (i, topic) in sub.sources.iter().enumerate() {
                readers.entry(topic.clone()).or_default().push((sub.id, i));
            }
        }
        readers
    }

    /// The full names of the internal topics, for an application id.
    pub fn internal_topic_names(&self, application_id: &str) -> Vec<String> {
        self.internal_topics.iter().map(|t| format!("{application_id}-{}", t.suffix)).collect()
    }

    /// The changelog topics of every store, for an application id
    /// ([`crate::state::changelog::changelog_topic`]).
    pub fn changelog_topic_names(&self, application_id: &str) -> Vec<String> {
        let stores = self.subtopologies.iter().flat_map(|s| &s.stores);
        stores.map(|store| crate::state::changelog::changelog_topic(application_id, store)).collect()
    }

    /// The callback registered for a sink name, if any.
    pub fn callback(&self, name: &str) -> Option<&CallbackSink> {
        self.callbacks.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}
