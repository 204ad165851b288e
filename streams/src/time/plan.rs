//! Which sources of a topology carry writers' watermark reports, and where each task reports.
//!
//! An internal topic that one sub-topology writes and another reads is an edge `W → R` of the
//! topology's graph. On a forward edge, every task of `W` reports its watermark to every
//! partition of the topic, and `R`'s tasks take the minimum over `W`'s tasks
//! ([`SourceClock::Writers`]). On an edge that closes a cycle (`R` also reaches `W`, as the
//! response topic of a foreign-key join does), waiting would wait on oneself: `R` ignores the
//! topic's time ([`SourceClock::Untimed`]) and `W` does not report to it. Every other topic is
//! written by outside producers as far as the engine knows ([`SourceClock::Records`]).

use std::collections::BTreeSet;

use crate::task::TaskId;
use crate::time::SourceClock;
use crate::topology::Topology;

/// How one sub-topology's tasks keep and report event time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubTopologyTime {
    /// One clock per source, in source order (writer lists name every task of the writers).
    pub clocks: Vec<SourceClock>,
    /// Internal topics each task reports its watermark to, with their partition counts.
    pub reports_to: Vec<(String, i32)>,
}

/// The event-time plan of a topology whose names are resolved for `application_id`;
/// `partitions(topic)` gives a topic's partition count (sub-topologies have as many tasks as
/// their first source has partitions). Indexed by sub-topology id.
pub fn time_plan(
    topology: &Topology,
    application_id: &str,
    partitions: impl Fn(&str) -> i32,
) -> Vec<SubTopologyTime> {
    let internal: BTreeSet<String> = topology.internal_topic_names(application_id).into_iter().collect();
    let subs = &topology.subtopologies;
    // edges[w] = sub-topologies reading an internal topic that w writes.
    let edges: Vec<BTreeSet<usize>> = subs
        .iter()
        .map(|w| {
            subs.iter()
                .enumerate()
                .filter(|(_, r)| r.sources.iter().any(|t| internal.contains(t) && w.sinks.contains(t)))
                .map(|(ri, _)| ri)
                .collect()
        })
        .collect();
    let reaches = |from: usize, to: usize| -> bool {
        let mut seen = vec![false; subs.len()];
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend(edges[n].iter().copied());
            }
        }
        false
    };
    let tasks_of = |s: usize| -> Vec<TaskId> {
        let n = subs[s].sources.first().map_or(0, |t| partitions(t));
        (0..n).map(|p| TaskId { subtopology: subs[s].id, partition: p }).collect()
    };
    let forward = |w: usize, r: usize| !reaches(r, w);
    let mut plan: Vec<SubTopologyTime> = subs
        .iter()
        .enumerate()
        .map(|(ri, r)| SubTopologyTime {
            clocks: r
                .sources
                .iter()
                .map(|t| {
                    if !internal.contains(t) {
                        return SourceClock::Records;
                    }
                    let writers: Vec<TaskId> = (0..subs.len())
                        .filter(|&wi| subs[wi].sinks.contains(t) && forward(wi, ri))
                        .flat_map(tasks_of)
                        .collect();
                    if writers.is_empty() { SourceClock::Untimed } else { SourceClock::Writers(writers) }
                })
                .collect(),
            reports_to: Vec::new(),
        })
        .collect();
    for (wi, w) in subs.iter().enumerate() {
        let mut targets: Vec<(String, i32)> = w
            .sinks
            .iter()
            .filter(|t| internal.contains(*t))
            .filter(|t| edges[wi].iter().any(|&ri| subs[ri].sources.contains(t) && forward(wi, ri)))
            .map(|t| (t.clone(), partitions(t)))
            .collect();
        targets.dedup();
        plan[wi].reports_to = targets;
    }
    // Callers index by sub-topology id.
    let mut by_id = vec![SubTopologyTime::default(); subs.iter().map(|s| s.id + 1).max().unwrap_or(0)];
    for (i, p) in plan.into_iter().enumerate() {
        by_id[subs[i].id] = p;
    }
    by_id
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::topology::{InternalTopic, SubTopology};

    fn sub(id: usize, sources: &[&str], sinks: &[&str]) -> SubTopology {
        SubTopology {
            id,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            sinks: sinks.iter().map(|s| s.to_string()).collect(),
            stores: Vec::new(),
            description: Vec::new(),
            factory: Arc::new(|_| Err(crate::Error::Topology("not built in this test".into()))),
        }
    }

    fn internal(suffix: &str) -> InternalTopic {
        InternalTopic { suffix: suffix.into(), partitions: None, config: Vec::new() }
    }

    #[test]
    fn repartition_readers_wait_on_every_writer_task() {
        let topology = Topology {
            subtopologies: vec![sub(0, &["bids"], &["app-rekey"]), sub(1, &["app-rekey"], &["out"])],
            internal_topics: vec![internal("rekey")],
            callbacks: Vec::new(),
        };
        let plan = time_plan(&topology, "app", |t| if t == "bids" { 2 } else { 3 });
        assert_eq!(plan[0].clocks, vec![SourceClock::Records]);
        assert_eq!(plan[0].reports_to, vec![("app-rekey".to_string(), 3)]);
        let writers = vec![TaskId { subtopology: 0, partition: 0 }, TaskId { subtopology: 0, partition: 1 }];
        assert_eq!(plan[1].clocks, vec![SourceClock::Writers(writers)]);
        assert!(plan[1].reports_to.is_empty(), "the output topic is not internal");
    }

    #[test]
    fn a_cycle_through_internal_topics_is_untimed() {
        // Foreign-key join: left writes subscriptions, right answers on the response topic.
        let topology = Topology {
            subtopologies: vec![
                sub(0, &["left", "app-response"], &["app-subscription", "out"]),
                sub(1, &["right", "app-subscription"], &["app-response"]),
            ],
            internal_topics: vec![internal("subscription"), internal("response")],
            callbacks: Vec::new(),
        };
        let plan = time_plan(&topology, "app", |_| 2);
        assert_eq!(plan[0].clocks, vec![SourceClock::Records, SourceClock::Untimed]);
        assert_eq!(plan[1].clocks, vec![SourceClock::Records, SourceClock::Untimed]);
        assert!(plan[0].reports_to.is_empty() && plan[1].reports_to.is_empty());
    }
}
