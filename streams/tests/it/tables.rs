//! KTable semantics: changelog reading, tombstones, filter and map_values with retractions.

use brook_streams::dsl::StreamsBuilder;
use brook_streams::serde::serdes;
use brook_streams::test_driver::TopologyTestDriver;

use crate::{i, s};

#[test]
fn table_keeps_latest_value_and_tombstones_delete() {
    let b = StreamsBuilder::new();
    let ns = serdes::nullable(i());
    let t = b.table::<String, i64>("t");
    t.to_stream().to_with("all", s(), ns.clone());
    t.filter(|_, v| *v >= 10).to_stream().to_with("big", s(), ns.clone());
    t.map_values(|v| v * 2).to_stream().to_with("doubled", s(), ns.clone());
    let mut d = TopologyTestDriver::new(b.build().unwrap()).unwrap();
    d.pipe("t", &s(), &i(), &"k".to_string(), &5, 1).unwrap();
    d.pipe("t", &s(), &i(), &"k".to_string(), &20, 2).unwrap();
    d.pipe("t", &s(), &i(), &"k".to_string(), &7, 3).unwrap(); // leaves the filter: retraction
    d.pipe_raw("t", Some(b"k"), None, 4, vec![]).unwrap(); // delete
    d.pipe_raw("t", Some(b"gone"), None, 5, vec![]).unwrap(); // delete of an absent key: nothing
    d.pipe_raw("t", None, Some(&7i64.to_be_bytes()), 6, vec![]).unwrap(); // null key: skipped
    let read = |d: &mut TopologyTestDriver, t: &str| -> Vec<Option<i64>> {
        d.read_typed(t, &s(), &ns).unwrap().into_iter().map(|r| r.value).collect()
    };
    assert_eq!(read(&mut d, "all"), vec![Some(5), Some(20), Some(7), None]);
    assert_eq!(read(&mut d, "big"), vec![Some(20), None]);
    assert_eq!(read(&mut d, "doubled"), vec![Some(10), Some(40), Some(14), None]);
    assert_eq!(d.metrics().records_skipped, 1);
}
