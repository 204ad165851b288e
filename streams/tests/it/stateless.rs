//! Stateless operators.

use brook_streams::dsl::StreamsBuilder;
use brook_streams::test_driver::{TestDriverConfig, TopologyTestDriver};

use crate::{i, s};

fn kv(driver: &mut TopologyTestDriver, topic: &str) -> Vec<(String, String)> {
    driver.read_typed(topic, &s(), &s()).unwrap().into_iter().map(|r| (r.key, r.value)).collect()
}

#[test]
fn filter_map_flat_map_select_key_peek() {
    let b = StreamsBuilder::new();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    b.stream::<String, String>("in")
        .filter(|_, v| !v.is_empty())
        .filter_not(|k, _| k == "skip")
        .peek(move |_, _| {
            seen2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .map_values(|v| v.to_uppercase())
        .flat_map_values(|v| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .select_key(|_, v| v.clone())
        .map(|k, v| (format!("{k}!"), format!("{v}?")))
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    for (k, v) in [("a", "x y"), ("skip", "z"), ("b", ""), ("c", "w")] {
        d.pipe("in", &s(), &s(), &k.to_string(), &v.to_string(), 10).unwrap();
    }
    assert_eq!(
        kv(&mut d, "out"),
        vec![
            ("X!".to_string(), "X?".to_string()),
            ("Y!".to_string(), "Y?".to_string()),
            ("W!".to_string(), "W?".to_string()),
        ]
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn split_merge_and_foreach() {
    let b = StreamsBuilder::new();
    let src = b.stream::<String, i64>("nums");
    let branches = src.split().branch(|_, v| *v < 0).branch(|_, v| *v % 2 == 0).default_branch();
    assert_eq!(branches.len(), 3);
    branches[0].to("negative");
    branches[1].to("even");
    branches[2].to("odd");
    branches[0].merge(&branches[2]).to("negative-or-odd");
    let total = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let t2 = total.clone();
    src.foreach(move |_, v| {
        t2.fetch_add(*v, std::sync::atomic::Ordering::Relaxed);
    });
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    for v in [-2i64, 3, 4, -1, 7] {
        d.pipe("nums", &s(), &i(), &"k".to_string(), &v, 0).unwrap();
    }
    let vals = |d: &mut TopologyTestDriver, t: &str| -> Vec<i64> {
        d.read_typed(t, &s(), &i()).unwrap().into_iter().map(|r| r.value).collect()
    };
    assert_eq!(vals(&mut d, "negative"), vec![-2, -1]);
    assert_eq!(vals(&mut d, "even"), vec![4]);
    assert_eq!(vals(&mut d, "odd"), vec![3, 7]);
    assert_eq!(vals(&mut d, "negative-or-odd"), vec![-2, 3, -1, 7]);
    assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 11);
}

#[test]
fn bad_records_are_skipped_and_counted_not_fatal() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in").map_values(|v| v * 2).to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.pipe_raw("in", Some(b"k"), Some(b"not-8-bytes"), 1, vec![]).unwrap();
    d.pipe("in", &s(), &i(), &"k".to_string(), &21, 2).unwrap();
    let out = d.read_typed("out", &s(), &i()).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, 42);
    assert_eq!(d.metrics().records_skipped, 1);
    let errors = d.take_errors();
    assert!(errors[0].reason.contains("bad value"), "{:?}", errors[0]);
}

#[test]
fn timestamp_extractor_sets_event_time_and_headers_pass_through() {
    let b = StreamsBuilder::new();
    b.stream_with_timestamps("in", s(), s(), |_, v: &String, _| v.parse().unwrap_or(0)).to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    let h = vec![brook_streams::record::Header { key: "trace".into(), value: Some("1".into()) }];
    d.pipe_raw("in", Some(b"k"), Some(b"12345"), 1, h.clone()).unwrap();
    let out = d.read_output("out");
    assert_eq!(out[0].timestamp, 12345);
    assert_eq!(out[0].headers, h);
}

#[test]
fn repartition_routes_by_new_key_across_partitions() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>("in").select_key(|_, v| v.clone()).repartition().to("out");
    let mut config = TestDriverConfig { default_partitions: 4, ..Default::default() };
    config.partitions.insert("out".into(), 4);
    let mut d = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    for i in 0..20 {
        d.pipe("in", &s(), &s(), &format!("k{i}"), &format!("v{}", i % 5), i).unwrap();
    }
    let out = d.read_output("out");
    assert_eq!(out.len(), 20);
    for r in &out {
        let expected = brook_broker::partitioner::partition_for_key(r.key.as_deref().unwrap(), 4);
        assert_eq!(r.partition, Some(expected));
    }
    assert!(d.output_topics().iter().any(|t| t.ends_with("-repartition")));
}
