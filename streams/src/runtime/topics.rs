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
//!                     is its number of tasks; its sinks are created if missing, alike, and
//!                     (with changelogs) each store's compacted changelog topic, which must
//!                     have at least one partition per task
//! ```
//!
//! The result, a [`TopicLayout`], knows every topic's partition count, which the event-time
//! plan and a static task assignment are computed from.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::state::changelog::{changelog_config, changelog_topic};
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

/// Checks that source topics exist and that each sub-topology's sources are co-partitioned,
/// then creates the missing internal, sink and (with `changelogs`) changelog topics in one
/// request. `topology` must have its names resolved for `application_id`.
pub(crate) fn prepare_topics(
    topology: &Topology,
    application_id: &str,
    admin: &dyn TopicAdmin,
    changelogs: bool,
) -> Result<TopicLayout> {
    let mut layout = TopicLayout::default();
    let widest = check_sources(topology, application_id, admin, &mut layout)?;
    let mut missing = Vec::new();
    let internal = topology.internal_topics.iter().map(|t| NewTopicSpec {
        name: format!("{application_id}-{}", t.suffix),
        partitions: t.partitions.unwrap_or(widest),
        config: t.config.clone(),
    });
    plan_missing(admin, &mut layout, internal, &mut missing)?;
    let (mut sinks, mut changelog_specs) = (Vec::new(), Vec::new());
    for sub in &topology.subtopologies {
        let counts: Vec<i32> = sub.sources.iter().map(|s| layout.partitions(s)).collect();
        let n = counts.first().copied().unwrap_or(0);
        if counts.iter().any(|&c| c != n) {
            return Err(Error::Topology(format!(
                "topics {:?} must be co-partitioned (same partition count) to be joined or merged in one task, but have {counts:?}",
                sub.sources
            )));
        }
        let new = sub.sinks.iter().filter(|s| topology.callback(s).is_none());
        sinks.extend(new.map(|sink| NewTopicSpec {
            name: sink.clone(),
            partitions: n.max(1),
            config: Vec::new(),
        }));
        if changelogs {
            changelog_specs.extend(sub.stores.iter().map(|store| NewTopicSpec {
                name: changelog_topic(application_id, store),
                partitions: n.max(1),
                config: changelog_config(),
            }));
        }
    }
    plan_missing(admin, &mut layout, sinks, &mut missing)?;
    plan_missing(admin, &mut layout, changelog_specs.clone(), &mut missing)?;
    for spec in &changelog_specs {
        let have = layout.partitions(&spec.name);
        if have < spec.partitions {
            return Err(Error::Topology(format!(
                "changelog topic '{}' has {have} partitions but its store has {} tasks; delete it (the state is rebuilt from the inputs) or add partitions",
                spec.name, spec.partitions
            )));
        }
    }
    // Nothing is created for a topology that cannot run.
    if !missing.is_empty() {
        admin.create(&missing)?;
    }
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

/// Adds those of `wanted` that do not exist yet (and were not planned already) to `missing`,
/// and records every one's partition count.
fn plan_missing(
    admin: &dyn TopicAdmin,
    layout: &mut TopicLayout,
    wanted: impl IntoIterator<Item = NewTopicSpec>,
    missing: &mut Vec<NewTopicSpec>,
) -> Result<()> {
    for spec in wanted {
        if layout.learn(admin, &spec.name)?.is_none() {
            layout.partitions.insert(spec.name.clone(), spec.partitions);
            missing.push(spec);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::dsl::{JoinWindows, StreamsBuilder};

    /// Topics in a map; records what it was asked to create.
    #[derive(Default)]
    struct Topics {
        existing: BTreeMap<String, i32>,
        created: RefCell<Vec<NewTopicSpec>>,
    }

    impl Topics {
        fn with(topics: &[(&str, i32)]) -> Self {
            Topics {
                existing: topics.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
                ..Default::default()
            }
        }
    }

    impl TopicAdmin for Topics {
        fn partitions(&self, topic: &str) -> Result<Option<i32>> {
            Ok(self.existing.get(topic).copied())
        }
        fn create(&self, topics: &[NewTopicSpec]) -> Result<()> {
            self.created.borrow_mut().extend_from_slice(topics);
            Ok(())
        }
    }

    fn resolved(mut topology: Topology) -> Topology {
        topology.resolve_names("app");
        topology
    }

    #[test]
    fn a_missing_source_topic_is_an_error() {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("in").to("out");
        let err =
            prepare_topics(&resolved(b.build().unwrap()), "app", &Topics::default(), false).unwrap_err();
        assert!(err.to_string().contains("source topic 'in' does not exist"), "{err}");
    }

    #[test]
    fn internal_topics_get_the_widest_source_and_sinks_their_sub_topologys_count() {
        let b = StreamsBuilder::new();
        b.stream::<String, String>("in")
            .map(|_, v| (v.clone(), v.clone()))
            .group_by_key()
            .count()
            .to_stream()
            .to("out");
        b.stream::<String, String>("narrow").to("copy");
        let topology = resolved(b.build().unwrap());
        let admin = Topics::with(&[("in", 4), ("narrow", 2), ("copy", 2)]);
        let layout = prepare_topics(&topology, "app", &admin, false).unwrap();
        let created = admin.created.borrow();
        let internal: Vec<&NewTopicSpec> = created.iter().filter(|t| t.name.starts_with("app-")).collect();
        assert!(!internal.is_empty(), "the repartition topic is created: {created:?}");
        assert!(internal.iter().all(|t| t.partitions == 4), "{internal:?}");
        let out: Vec<&NewTopicSpec> = created.iter().filter(|t| t.name == "out").collect();
        assert_eq!(out.len(), 1, "{created:?}");
        assert_eq!(out[0].partitions, 4);
        assert!(!created.iter().any(|t| t.name == "copy"), "an existing sink is left alone: {created:?}");
        assert_eq!(layout.partitions("out"), 4);
        // One task per partition of each sub-topology's sources.
        let tasks = layout.tasks(&topology);
        assert_eq!(
            tasks.len(),
            topology.subtopologies.iter().map(|s| layout.partitions(&s.sources[0]) as usize).sum::<usize>()
        );
        assert_eq!(tasks.iter().filter(|t| t.partition == 3).count(), 2, "{tasks:?}");
    }

    #[test]
    fn joined_sources_with_different_partition_counts_are_rejected() {
        let b = StreamsBuilder::new();
        let l = b.stream::<String, String>("left");
        let r = b.stream::<String, String>("right");
        l.join(&r, |a, b| format!("{a}+{b}"), JoinWindows::of_time_difference(10)).to("out");
        let admin = Topics::with(&[("left", 2), ("right", 3)]);
        let err = prepare_topics(&resolved(b.build().unwrap()), "app", &admin, false).unwrap_err();
        assert!(err.to_string().contains("must be co-partitioned"), "{err}");
        assert!(admin.created.borrow().is_empty(), "nothing is created for a topology that cannot run");
    }
}
