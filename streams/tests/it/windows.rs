//! Windowed aggregations: tumbling, hopping, sliding and session windows, grace periods, late
//! and out-of-order records, emit-on-update and emit-final.

use brook_streams::dsl::{
    EmitStrategy, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, Window, WindowedSerde,
};
use brook_streams::test_driver::TopologyTestDriver;

use crate::{i, s};

fn pipe(d: &mut TopologyTestDriver, key: &str, ts: i64) {
    d.pipe("in", &s(), &i(), &key.to_string(), &1, ts).unwrap();
}

fn windowed(d: &mut TopologyTestDriver, size: i64) -> Vec<(String, i64, i64, Option<i64>)> {
    let ks = WindowedSerde::time(s(), size);
    d.read_typed("out", &ks, &brook_streams::serde::serdes::nullable(i()))
        .unwrap()
        .into_iter()
        .map(|r| (r.key.key, r.key.window.start, r.key.window.end, r.value))
        .collect()
}

#[test]
fn tumbling_count_with_grace_late_and_out_of_order_records() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10).grace(5))
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 1); // [0,10)
    pipe(&mut d, "a", 12); // [10,20)
    pipe(&mut d, "a", 8); // out of order, window [0,10) still open (stream time 12 < 10 + 5)
    pipe(&mut d, "a", 15); // stream time 15 = 10 + 5: [0,10) closes
    pipe(&mut d, "a", 9); // late for [0,10): dropped
    pipe(&mut d, "b", 14);
    assert_eq!(
        windowed(&mut d, 10),
        vec![
            ("a".into(), 0, 10, Some(1)),
            ("a".into(), 10, 20, Some(1)),
            ("a".into(), 0, 10, Some(2)),
            ("a".into(), 10, 20, Some(2)),
            ("b".into(), 10, 20, Some(1)),
        ]
    );
    assert_eq!(d.metrics().late_records_dropped, 1);
}

#[test]
fn grace_boundary_is_exclusive_of_window_end_plus_grace() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10).grace(5))
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 14); // stream time 14: window [0,10) closes at 15
    pipe(&mut d, "a", 9); // accepted: 10 + 5 > 14
    pipe(&mut d, "a", 15); // stream time 15
    pipe(&mut d, "a", 9); // dropped: 10 + 5 <= 15
    let out = windowed(&mut d, 10);
    assert_eq!(out.iter().filter(|r| r.1 == 0).count(), 1);
    assert_eq!(d.metrics().late_records_dropped, 1);
}

#[test]
fn hopping_windows_count_each_record_in_every_window() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10).advance_by(5))
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 7);
    pipe(&mut d, "a", 11);
    assert_eq!(
        windowed(&mut d, 10),
        vec![
            ("a".into(), 0, 10, Some(1)),
            ("a".into(), 5, 15, Some(1)),
            ("a".into(), 5, 15, Some(2)),
            ("a".into(), 10, 20, Some(1)),
        ]
    );
}

#[test]
fn emit_final_emits_each_window_once_when_it_closes() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10).grace(2))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 1);
    pipe(&mut d, "b", 3);
    pipe(&mut d, "a", 9);
    assert!(windowed(&mut d, 10).is_empty(), "nothing before the window closes");
    pipe(&mut d, "a", 11); // stream time 11 < 12: still open
    assert!(windowed(&mut d, 10).is_empty());
    pipe(&mut d, "a", 12); // closes [0,10)
    assert_eq!(windowed(&mut d, 10), vec![("a".into(), 0, 10, Some(2)), ("b".into(), 0, 10, Some(1))]);
    pipe(&mut d, "a", 5); // late
    pipe(&mut d, "c", 40); // closes [10,20)
    assert_eq!(windowed(&mut d, 10), vec![("a".into(), 10, 20, Some(2))]);
    assert_eq!(d.metrics().late_records_dropped, 1);
}

#[test]
fn session_windows_merge_and_retract() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(5).grace(20))
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 0); // session [0,0]
    pipe(&mut d, "a", 20); // separate session [20,20]
    pipe(&mut d, "a", 10); // gap 10 from both: own session [10,10]
    pipe(&mut d, "a", 15); // bridges [10,10] and [20,20] → [10,20] count 3
    let ks = WindowedSerde::session(s());
    let out: Vec<_> = d
        .read_typed("out", &ks, &brook_streams::serde::serdes::nullable(i()))
        .unwrap()
        .into_iter()
        .map(|r| (r.key.window, r.value))
        .collect();
    let w = |start, end| Window { start, end };
    assert_eq!(
        out,
        vec![
            (w(0, 0), Some(1)),
            (w(20, 20), Some(1)),
            (w(10, 10), Some(1)),
            (w(10, 10), None),
            (w(20, 20), None),
            (w(10, 20), Some(3)),
        ]
    );
}

#[test]
fn session_emit_final_after_gap_and_grace() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(5).grace(1))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 0);
    pipe(&mut d, "a", 4);
    pipe(&mut d, "b", 10); // stream time 10 = 4 + 5 + 1: a's session can still grow
    assert!(d.read_output("out").is_empty());
    pipe(&mut d, "b", 11); // now a's session [0,4] is final
    let ks = WindowedSerde::session(s());
    let out = d.read_typed("out", &ks, &brook_streams::serde::serdes::nullable(i())).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].key.key.as_str(), out[0].key.window, out[0].value),
        ("a", Window { start: 0, end: 4 }, Some(2))
    );
}

#[test]
fn sliding_windows_aggregate_records_within_the_difference() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::with_time_difference_and_grace(10, 100))
        .aggregate(|| 0i64, |_, v, acc| acc + v)
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.pipe("in", &s(), &i(), &"a".to_string(), &1, 100).unwrap();
    d.pipe("in", &s(), &i(), &"a".to_string(), &10, 105).unwrap();
    d.pipe("in", &s(), &i(), &"a".to_string(), &100, 130).unwrap();
    let ks = WindowedSerde::time(s(), 10);
    let out = d.read_typed("out", &ks, &brook_streams::serde::serdes::nullable(i())).unwrap();
    let mut last = std::collections::BTreeMap::new();
    for r in out {
        last.insert(r.key.window.start, r.value);
    }
    // [90,100] = 1; [95,105] = 11; [101,111] = 10 (right window of the first record);
    // [106,116] is empty; [120,130] = 100.
    assert_eq!(last.get(&90), Some(&Some(1)));
    assert_eq!(last.get(&95), Some(&Some(11)));
    assert_eq!(last.get(&101), Some(&Some(10)));
    assert_eq!(last.get(&120), Some(&Some(100)));
    assert!(!last.contains_key(&106));
}

#[test]
fn session_record_older_than_grace_is_late() {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("in")
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(5))
        .count()
        .to_stream()
        .to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    pipe(&mut d, "a", 20);
    pipe(&mut d, "a", 10); // its session would end at 10 < stream time 20 - grace 0: late
    assert_eq!(d.read_output("out").len(), 1);
    assert_eq!(d.metrics().late_records_dropped, 1);
}
