//! Preparing the topics an application reads and writes, once for every connection.
//!
//! Before any task runs, [`prepare_topics`] asks a [`TopicAdmin`] (the embedded broker, a Kafka
//! cluster's admin API, or the test driver's imaginary topics) what exists, then:
//!
//! ```text
//!  source topics ── must exist ──► the largest partition count among them
//!  internal topics (repartition, changelog) ── created if missing, with their own partition
//!                                              count or that largest count
//!  each sub-topology: its sources must be co-partitioned (same partition count) — that count
//!                     is its number of tasks; its sinks are created if missing, alike
//! ```
//!
//! The result, a [`TopicLayout`], knows every topic's partition count, which the event-time
//! plan and a static task assignment are computed from.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::task::TaskId;
use crate::topology::Topology;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewTopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Topic-level configuration (`cleanup.policy`, …).
    pub config: Vec<(String, String)>,
}

/// What [`prepare_topics`] needs from wherever the topics live.
///
/// Contract: [`TopicAdmin::partitions`] answers for the state before this preparation (it need
/// not see the topics [`TopicAdmin::create`] makes); `create` succeeds when a topic already
/// exists (another instance of the application may have created it first).
pub(crate) trait TopicAdmin {
    /// The partition count of `topic`, or `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<i32>>;
    /// Creates topics.
    fn create(&self, topics: &[NewTopicSpec]) -> Result<()>;
}

/// Partition counts of every topic an application touches, after [`prepare_topics`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicLayout {
    partitions: HashMap<String, i32>,
}

impl TopicLayout {
    /// The partition count of `topic` (1 if it is not one of the application's).
    pub fn partitions(&self, topic: &str) -> i32 {
        self.partitions.get(topic).copied().unwrap_or(1)
    }

    /// Every task of the topology: one per partition of each sub-topology's sources.
    pub fn tasks(&self, topology: &Topology) -> Vec<TaskId> {
        let mut tasks = Vec::new();
        for sub in &topology.subtopologies {
            let n = sub.sources.first().map_or(0, |s| self.partitions(s));
            tasks.extend((0..n).map(|partition| TaskId { subtopology: sub.id, partition }));
        }
        tasks
    }

    fn learn(&mut self, admin: &dyn TopicAdmin, topic: &str) -> Result<Option<i32>> {
        if let Some(&n) = self.partitions.get(topic) {
            return Ok(Some(n));
        }
        let n = admin.partitions(topic)?;
        if let Some(n) = n {
            self.partitions.insert(topic.to_string(), n);
        }
        Ok(n)
    }
}

/// Checks that source topics exist, creates missing internal and sink topics and checks that
/// each sub-topology's sources are co-partitioned. `topology` must have its names resolved
/// for `application_id`.
pub(crate) fn prepare_topics(
    topology: &Topology,
    application_id: &str,
    admin: &dyn TopicAdmin,
) -> Result<TopicLayout> {
    let mut layout = TopicLayout::default();
    let widest = check_sources(topology, application_id, admin, &mut layout)?;
    let internal: Vec<NewTopicSpec> = topology
        .internal_topics
        .iter()
        .map(|t| NewTopicSpec {
            name: format!("{application_id}-{}", t.suffix),
            partitions: t.partitions.unwrap_or(widest),
            config: t.config.clone(),
        })
        .collect();
    create_missing(admin, &mut layout, internal)?;
    let mut sinks = Vec::new();
    for sub in &topology.subtopologies {
        let counts: Vec<i32> = sub.sources.iter().map(|s| layout.partitions(s)).collect();
        let n = counts.first().copied().unwrap_or(0);
        if counts.iter().any(|&c| c != n) {
            return Err(Error::Topology(format!(
                "topics {:?} must be co-partitioned (same partition count) to be joined or merged in one task, but have {counts:?}",
                sub.sources
            )));
        }
        for sink in sub.sinks.iter().filter(|s| topology.callback(s).is_none()) {
            if !sinks.iter().any(|t: &NewTopicSpec| t.name == *sink) {
                sinks.push(NewTopicSpec { name: sink.clone(), partitions: n.max(1), config: Vec::new() });
            }
        }
    }
    create_missing(admin, &mut layout, sinks)?;
    Ok(layout)
}

/// Learns the partition counts of the external source topics, which must exist; returns the
/// largest (at least 1).
fn check_sources(
    topology: &Topology,
    application_id: &str,
    admin: &dyn TopicAdmin,
    layout: &mut TopicLayout,
) -> Result<i32> {
    let internal = topology.internal_topic_names(application_id);
    let mut widest = 1;
    for topic in topology.source_topics() {
        if internal.contains(&topic) {
            continue;
        }
        let n = layout.learn(admin, &topic)?.ok_or_else(|| {
            Error::Topology(format!(
                "source topic '{topic}' does not exist; create it before starting the application"
            ))
        })?;
        widest = widest.max(n);
    }
    Ok(widest)
}

/// Creates those of `wanted` that do not exist yet, in one request, and records every one's
/// partition count.
fn create_missing(admin: &dyn TopicAdmin, layout: &mut TopicLayout, wanted: Vec<NewTopicSpec>) -> Result<()> {
    let mut missing = Vec::new();
    for spec in wanted {
        if layout.learn(admin, &spec.name)?.is_none() {
            layout.partitions.insert(spec.name.clone(), spec.partitions);
            missing.push(spec);
        }
    }
    if missing.is_empty() { Ok(()) } else { admin.create(&missing) }
}
