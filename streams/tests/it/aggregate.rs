//! Grouping and aggregation.

use brook_streams::dsl::StreamsBuilder;
use brook_streams::test_driver::{TestDriverConfig, TopologyTestDriver};

use crate::{i, s};

#[test]
fn count_reduce_aggregate_emit_every_update() {
    let b = StreamsBuilder::new();
    let grouped = b.stream::<String, i64>("in").group_by_key();
    grouped.count().to_stream().to("count");
    grouped.reduce(|a, v| a.max(v)).to_stream().to("max");
    grouped.aggregate(|| 100i64, |_, v, acc| acc - v).to_stream().to("agg");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    for (k, v) in [("a", 5), ("b", 1), ("a", 3), ("a", 9)] {
        d.pipe("in", &s(), &i(), &k.to_string(), &v, 0).unwrap();
    }
    let read = |d: &mut TopologyTestDriver, t: &str| -> Vec<(String, i64)> {
        d.read_typed(t, &s(), &i()).unwrap().into_iter().map(|r| (r.key, r.value)).collect()
    };
    let pairs = |v: &[(&str, i64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(read(&mut d, "count"), pairs(&[("a", 1), ("b", 1), ("a", 2), ("a", 3)]));
    assert_eq!(read(&mut d, "max"), pairs(&[("a", 5), ("b", 1), ("a", 5), ("a", 9)]));
    assert_eq!(read(&mut d, "agg"), pairs(&[("a", 95), ("b", 99), ("a", 92), ("a", 83)]));
}

#[test]
fn group_by_new_key_repartitions_and_counts_across_partitions() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("words")
        .flat_map_values(|line| line.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .group_by(|_, w| w.clone())
        .count()
        .to_stream()
        .to("counts");
    let config = TestDriverConfig { default_partitions: 3, ..Default::default() };
    let mut d = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    let lines = ["the quick fox", "the lazy dog", "the fox"];
    for (n, l) in lines.iter().enumerate() {
        d.pipe("words", &s(), &s(), &format!("line{n}"), &l.to_string(), n as i64).unwrap();
    }
    let out = d.read_typed("counts", &s(), &i()).unwrap();
    let mut last = std::collections::BTreeMap::new();
    for r in out {
        last.insert(r.key, r.value);
    }
    let expected: std::collections::BTreeMap<String, i64> =
        [("the", 3), ("quick", 1), ("fox", 2), ("lazy", 1), ("dog", 1)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
    assert_eq!(last, expected);
}

#[test]
fn changed_key_forces_repartition_before_grouping() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in").map(|_, v| (v.clone(), v)).group_by_key().count().to_stream().to("out");
    let topology = b.build().unwrap();
    assert_eq!(topology.subtopologies.len(), 2, "{}", topology.describe());
    assert_eq!(topology.internal_topics.len(), 1);
}
