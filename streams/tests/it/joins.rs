//! Stream-stream, stream-table, table-table and foreign-key joins.

use brook_streams::dsl::{JoinWindows, StreamsBuilder};
use brook_streams::serde::serdes;
use brook_streams::test_driver::{TestDriverConfig, TopologyTestDriver};

use crate::s;

fn out(d: &mut TopologyTestDriver, topic: &str) -> Vec<(String, String, i64)> {
    d.read_typed(topic, &s(), &s()).unwrap().into_iter().map(|r| (r.key, r.value, r.timestamp)).collect()
}

fn put(d: &mut TopologyTestDriver, topic: &str, k: &str, v: &str, ts: i64) {
    d.pipe(topic, &s(), &s(), &k.to_string(), &v.to_string(), ts).unwrap();
}

#[test]
fn stream_stream_inner_join_respects_the_window() {
    let b = StreamsBuilder::new();
    let l = b.stream::<String, String>("left");
    let r = b.stream::<String, String>("right");
    l.join(&r, |a, b| format!("{a}+{b}"), JoinWindows::of_time_difference(10)).to("out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    put(&mut d, "left", "k", "L1", 100);
    put(&mut d, "right", "k", "R1", 105); // joins L1
    put(&mut d, "right", "k", "R2", 111); // 11 after L1: outside
    put(&mut d, "left", "k", "L2", 115); // joins R1 (10 before) and R2
    put(&mut d, "right", "x", "R3", 115); // other key
    assert_eq!(
        out(&mut d, "out"),
        vec![
            ("k".into(), "L1+R1".into(), 105),
            ("k".into(), "L2+R1".into(), 115),
            ("k".into(), "L2+R2".into(), 115),
        ]
    );
}

#[test]
fn stream_stream_join_buffers_survive_a_restart_on_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let topology = || {
        let b = StreamsBuilder::new();
        let l = b.stream::<String, String>("left");
        let r = b.stream::<String, String>("right");
        l.join(&r, |a, b| format!("{a}+{b}"), JoinWindows::of_time_difference(10)).to("out");
        b.build().unwrap()
    };
    let config = TestDriverConfig {
        state: brook_streams::state::StateConfig::rocksdb(dir.path()),
        ..TestDriverConfig::default()
    };
    let mut d = TopologyTestDriver::with_config(topology(), config.clone()).unwrap();
    put(&mut d, "left", "k", "L1", 1000);
    put(&mut d, "left", "k", "L2", 1005);
    put(&mut d, "left", "x", "L3", 1006);
    d.flush().unwrap();
    drop(d);

    let mut d = TopologyTestDriver::with_config(topology(), config).unwrap();
    // Buffered before the restart, found after it (the buffer reopened its generations).
    put(&mut d, "right", "k", "R1", 1008);
    put(&mut d, "left", "k", "L4", 1009); // after the restart: matches R1 too
    // Far ahead on both sides (event time is the slower side's): the old generations
    // expire, and R2 is late (dropped before any lookup).
    put(&mut d, "left", "z", "L5", 9000);
    put(&mut d, "right", "x", "R3", 9001);
    put(&mut d, "right", "k", "R2", 1010);
    put(&mut d, "left", "x", "L6", 9002);
    assert_eq!(
        out(&mut d, "out"),
        vec![
            ("k".into(), "L1+R1".into(), 1008),
            ("k".into(), "L2+R1".into(), 1008),
            ("k".into(), "L4+R1".into(), 1009),
            ("x".into(), "L6+R3".into(), 9002),
        ]
    );
}

#[test]
fn left_and_outer_joins_emit_unmatched_only_after_the_window_closes() {
    let b = StreamsBuilder::new();
    let l = b.stream::<String, String>("left");
    let r = b.stream::<String, String>("right");
    let w = JoinWindows::of_time_difference(10).grace(0);
    l.left_join(&r, |a, b| format!("{a}+{}", b.cloned().unwrap_or("null".into())), w).to("left-out");
    l.outer_join(
        &r,
        |a, b| format!("{}+{}", a.cloned().unwrap_or("null".into()), b.cloned().unwrap_or("null".into())),
        w,
    )
    .to("outer-out");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    put(&mut d, "left", "a", "L1", 100); // will stay unmatched
    put(&mut d, "left", "b", "L2", 100);
    put(&mut d, "right", "b", "R2", 105); // matches L2 in time: no null result for L2
    put(&mut d, "right", "c", "R3", 106); // unmatched right
    assert_eq!(out(&mut d, "left-out"), vec![("b".into(), "L2+R2".into(), 105)]);
    put(&mut d, "left", "z", "tick", 111);
    // Event time is the minimum over both inputs: the right side is at 106 and may still send
    // a match for L1.
    assert_eq!(out(&mut d, "left-out"), vec![]);
    put(&mut d, "right", "y", "tick", 111); // event time 111 > 100 + 10: L1's window closed
    assert_eq!(out(&mut d, "left-out"), vec![("a".into(), "L1+null".into(), 100)]);
    put(&mut d, "left", "z", "tick2", 130);
    put(&mut d, "right", "y", "tick2", 130); // R3's window (106 + 10) closed
    let outer = out(&mut d, "outer-out");
    assert!(outer.contains(&("b".into(), "L2+R2".into(), 105)));
    assert!(outer.contains(&("a".into(), "L1+null".into(), 100)));
    assert!(outer.contains(&("c".into(), "null+R3".into(), 106)));
    assert!(!outer.iter().any(|(k, v, _)| k == "b" && v.contains("null")), "{outer:?}");
}

#[test]
fn stream_table_join_uses_the_table_value_at_the_time_and_handles_tombstones() {
    let b = StreamsBuilder::new();
    let orders = b.stream::<String, String>("orders");
    let customers = b.table::<String, String>("customers");
    orders.join_table(&customers, |o, c| format!("{o}@{c}")).to("inner");
    orders.left_join_table(&customers, |o, c| format!("{o}@{}", c.cloned().unwrap_or("?".into()))).to("left");
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    put(&mut d, "orders", "c1", "o1", 1); // no customer yet
    put(&mut d, "customers", "c1", "Alice", 2);
    put(&mut d, "orders", "c1", "o2", 3);
    put(&mut d, "customers", "c1", "Alicia", 4);
    put(&mut d, "orders", "c1", "o3", 5);
    d.pipe_raw("customers", Some(b"c1"), None, 6, vec![]).unwrap(); // tombstone
    put(&mut d, "orders", "c1", "o4", 7);
    let inner: Vec<_> = out(&mut d, "inner").into_iter().map(|r| r.1).collect();
    assert_eq!(inner, vec!["o2@Alice", "o3@Alicia"]);
    let left: Vec<_> = out(&mut d, "left").into_iter().map(|r| r.1).collect();
    assert_eq!(left, vec!["o1@?", "o2@Alice", "o3@Alicia", "o4@?"]);
}

#[test]
fn table_table_joins_retract_and_update() {
    let b = StreamsBuilder::new();
    let l = b.table::<String, String>("l");
    let r = b.table::<String, String>("r");
    let ns = serdes::nullable(s());
    l.join(&r, |a, b| format!("{a}|{b}")).to_stream().to_with("inner", s(), ns.clone());
    l.left_join(&r, |a, b| format!("{a}|{}", b.cloned().unwrap_or("-".into()))).to_stream().to_with(
        "left",
        s(),
        ns.clone(),
    );
    l.outer_join(&r, |a, b| {
        format!("{}|{}", a.cloned().unwrap_or("-".into()), b.cloned().unwrap_or("-".into()))
    })
    .to_stream()
    .to_with("outer", s(), ns.clone());
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    put(&mut d, "l", "k", "a", 1);
    put(&mut d, "r", "k", "x", 2);
    put(&mut d, "l", "k", "b", 3);
    d.pipe_raw("r", Some(b"k"), None, 4, vec![]).unwrap();
    let read = |d: &mut TopologyTestDriver, t: &str| -> Vec<Option<String>> {
        d.read_typed(t, &s(), &ns).unwrap().into_iter().map(|r| r.value).collect()
    };
    assert_eq!(read(&mut d, "inner"), vec![Some("a|x".into()), Some("b|x".into()), None]);
    assert_eq!(
        read(&mut d, "left"),
        vec![Some("a|-".into()), Some("a|x".into()), Some("b|x".into()), Some("b|-".into())]
    );
    assert_eq!(
        read(&mut d, "outer"),
        vec![Some("a|-".into()), Some("a|x".into()), Some("b|x".into()), Some("b|-".into())]
    );
}

#[test]
fn foreign_key_join_follows_changes_on_both_sides() {
    // orders: order id → "customer-id:item"; customers: customer id → name.
    let b = StreamsBuilder::new();
    let orders = b.table::<String, String>("orders");
    let customers = b.table::<String, String>("customers");
    let ns = serdes::nullable(s());
    orders
        .join_on_foreign_key(
            &customers,
            |o: &String| o.split(':').next().unwrap_or_default().to_string(),
            |o, c| format!("{o} by {c}"),
        )
        .to_stream()
        .to_with("out", s(), ns.clone());
    let config = TestDriverConfig { default_partitions: 2, ..Default::default() };
    let mut d = TopologyTestDriver::with_config(b.build().unwrap(), config).unwrap();
    put(&mut d, "customers", "c1", "Ann", 1);
    put(&mut d, "customers", "c2", "Bob", 1);
    put(&mut d, "orders", "o1", "c1:book", 2);
    put(&mut d, "orders", "o2", "c2:pen", 3);
    put(&mut d, "customers", "c1", "Annie", 4); // updates o1's result
    put(&mut d, "orders", "o2", "c1:pen", 5); // o2 moves to c1
    put(&mut d, "customers", "c2", "Robert", 6); // o2 no longer follows c2
    d.pipe_raw("orders", Some(b"o1"), None, 7, vec![]).unwrap(); // delete o1
    let got: Vec<(String, Option<String>)> =
        d.read_typed("out", &s(), &ns).unwrap().into_iter().map(|r| (r.key, r.value)).collect();
    assert_eq!(
        got,
        vec![
            ("o1".into(), Some("c1:book by Ann".into())),
            ("o2".into(), Some("c2:pen by Bob".into())),
            ("o1".into(), Some("c1:book by Annie".into())),
            ("o2".into(), Some("c1:pen by Annie".into())),
            ("o1".into(), None),
        ]
    );
}
