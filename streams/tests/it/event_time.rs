//! Event time across partitions: a windowed aggregation after a `group_by` (a repartition
//! topic written by every upstream task) gives the batch answer whatever order the input
//! partitions are processed in, and an input partition that stays empty holds windows back only
//! until `max.task.idle.ms` has passed.

use std::collections::BTreeMap;

use brook_broker::partitioner::partition_for_key;
use brook_streams::dsl::{EmitStrategy, StreamsBuilder, TimeWindows, WindowedSerde};
use brook_streams::test_driver::{TestDriverConfig, TopologyTestDriver};
use brook_streams::topology::Topology;
use proptest::prelude::*;

use crate::{i, s};

const SIZE: i64 = 10_000;
const GRACE: i64 = 1_000;

/// Bids keyed by bidder, valued by auction: counts per auction and 10 s window, emitted once
/// when the window closes.
fn count_per_auction() -> Topology {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>("bids")
        .group_by(|_, auction| format!("auction-{auction}"))
        .windowed_by(TimeWindows::of_size(SIZE).grace(GRACE))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    b.build().unwrap()
}

fn driver(partitions: i32, max_task_idle_ms: i64) -> TopologyTestDriver {
    let config = TestDriverConfig { default_partitions: partitions, max_task_idle_ms, ..Default::default() };
    TopologyTestDriver::with_config(count_per_auction(), config).unwrap()
}

type Counts = BTreeMap<(String, i64), i64>;

fn emitted(d: &mut TopologyTestDriver) -> Counts {
    let ks = WindowedSerde::time(s(), SIZE);
    let mut out = Counts::new();
    for r in d.read_typed("out", &ks, &i()).unwrap() {
        let previous = out.insert((r.key.key, r.key.window.start), r.value);
        assert_eq!(previous, None, "a window was emitted twice");
    }
    out
}

/// A bidder whose key lands in `partition` of `partitions`.
fn bidder_in(partition: i32, partitions: i32, n: usize) -> String {
    (0..)
        .map(|k| format!("bidder-{k}"))
        .filter(|b| partition_for_key(b.as_bytes(), partitions) == partition)
        .nth(n)
        .unwrap()
}

/// One input partition's bids, in event-time order up to `jitter` ms out of order.
fn partition_bids(
    partition: i32,
    partitions: i32,
    count: usize,
    seed: u64,
    jitter: i64,
) -> Vec<(String, i64, i64)> {
    let mut x = seed | 1;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let bidders: Vec<String> = (0..3).map(|n| bidder_in(partition, partitions, n)).collect();
    (0..count)
        .map(|k| {
            let base = k as i64 * 97 + partition as i64 * 13;
            let ts = (base - rnd(jitter as u64 + 1) as i64).max(0);
            (bidders[rnd(3) as usize].clone(), rnd(5) as i64, ts)
        })
        .collect()
}

/// The batch answer: every window that ends (with its grace) before `closed_at`.
fn reference(bids: &[(String, i64, i64)], closed_at: i64) -> Counts {
    let mut out = Counts::new();
    for (_, auction, ts) in bids {
        let start = ts.div_euclid(SIZE) * SIZE;
        if start + SIZE + GRACE <= closed_at {
            *out.entry((format!("auction-{auction}"), start)).or_default() += 1;
        }
    }
    out
}

/// Pipes each partition's bids in the order `schedule` picks partitions, then one bid far in
/// the future into every partition so that every earlier window closes.
fn run(partitions: i32, per_partition: usize, schedule: &[usize]) -> (Counts, Counts, u64) {
    let mut d = driver(partitions, i64::MAX / 4);
    let mut queues: Vec<std::collections::VecDeque<(String, i64, i64)>> = (0..partitions)
        .map(|p| partition_bids(p, partitions, per_partition, 7 + p as u64, 50).into())
        .collect();
    let mut all: Vec<(String, i64, i64)> = queues.iter().flatten().cloned().collect();
    let mut pick = schedule.iter().cycle();
    while queues.iter().any(|q| !q.is_empty()) {
        let p = *pick.next().unwrap() % partitions as usize;
        let Some((bidder, auction, ts)) = queues[p].pop_front() else {
            // This partition is done: hand its turn to the next one with data.
            let p = queues.iter().position(|q| !q.is_empty()).unwrap();
            let (bidder, auction, ts) = queues[p].pop_front().unwrap();
            d.pipe("bids", &s(), &i(), &bidder, &auction, ts).unwrap();
            continue;
        };
        d.pipe("bids", &s(), &i(), &bidder, &auction, ts).unwrap();
    }
    let end = per_partition as i64 * 97 + 10 * SIZE;
    for p in 0..partitions {
        let bidder = bidder_in(p, partitions, 0);
        d.pipe("bids", &s(), &i(), &bidder, &99, end).unwrap();
        all.push((bidder, 99, end));
    }
    (emitted(&mut d), reference(&all, end), d.metrics().late_records_dropped)
}

#[test]
fn a_slow_partition_is_waited_for_at_2_4_and_8_partitions() {
    for partitions in [2, 4, 8] {
        // Partition 0 first, to the end of its time, then every other one: the skew a fast and
        // a slow upstream task produce, at its most extreme.
        let schedule: Vec<usize> =
            (0..partitions as usize).flat_map(|p| std::iter::repeat_n(p, 400)).collect();
        let (got, want, late) = run(partitions, 400, &schedule);
        assert!(!want.is_empty());
        assert_eq!(got, want, "{partitions} partitions");
        assert_eq!(late, 0, "{partitions} partitions: records out of order only within the grace period");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever order the partitions are processed in, the windows are the batch answer and
    /// nothing is dropped as late.
    #[test]
    fn any_schedule_gives_the_batch_answer(
        partitions in 2i32..6,
        schedule in prop::collection::vec(0usize..8, 1..40),
    ) {
        let (got, want, late) = run(partitions, 120, &schedule);
        prop_assert_eq!(got, want);
        prop_assert_eq!(late, 0);
    }
}

#[test]
fn an_idle_partition_holds_windows_only_until_max_task_idle() {
    let mut d = driver(2, 5_000);
    let bidder = bidder_in(0, 2, 0);
    for ts in (0..25_000).step_by(500) {
        d.pipe("bids", &s(), &i(), &bidder, &1, ts).unwrap();
    }
    // Partition 1 has produced nothing: the task reading it may still write bids below 24.5 s,
    // so nothing is final yet.
    assert_eq!(emitted(&mut d), Counts::new());
    d.advance_wall_clock(4_999).unwrap();
    assert_eq!(emitted(&mut d), Counts::new());
    // After max.task.idle.ms the empty partition is idle: event time is partition 0's, and the
    // windows that ended a grace period before 24.5 s close.
    d.advance_wall_clock(1).unwrap();
    assert_eq!(
        emitted(&mut d),
        Counts::from([(("auction-1".to_string(), 0), 20), (("auction-1".to_string(), 10_000), 20)])
    );
    let readers: Vec<i64> =
        d.watermarks().into_iter().filter(|(id, _)| id.subtopology == 1).map(|(_, wm)| wm).collect();
    assert_eq!(readers, vec![24_500, 24_500], "the tasks after the repartition");
    // The idle partition wakes up with a bid behind the watermark: the watermark stays where it
    // is and the bid lands in its still-open window.
    d.pipe("bids", &s(), &i(), &bidder_in(1, 2, 0), &1, 23_000).unwrap();
    d.pipe("bids", &s(), &i(), &bidder, &1, 40_000).unwrap();
    d.pipe("bids", &s(), &i(), &bidder_in(1, 2, 0), &1, 40_000).unwrap();
    assert_eq!(emitted(&mut d), Counts::from([(("auction-1".to_string(), 20_000), 11)]));
    assert_eq!(d.metrics().late_records_dropped, 0);
}

/// A task that takes over a repartition topic's partition (after a restart or a rebalance)
/// knows where each writer was from what the previous owner committed, so writers that have
/// gone quiet do not hold it back.
#[test]
fn a_reader_restores_its_writers_from_the_committed_metadata() {
    use std::sync::Arc;

    use brook_streams::record::InputRecord;
    use brook_streams::runtime::task_runner::{EventTiming, RunningTask};
    use brook_streams::task::{TaskContext, TaskId};
    use brook_streams::time::{SourceClock, SubTopologyTime, WatermarkReport};
    use brook_streams::topology::TaskProcessor;

    struct Nothing;
    impl TaskProcessor for Nothing {
        fn process(&mut self, _: usize, _: &[InputRecord], _: &mut TaskContext) -> brook_streams::Result<()> {
            Ok(())
        }
        fn advance(&mut self, _: i64, _: &mut TaskContext) -> brook_streams::Result<()> {
            Ok(())
        }
    }
    let writers = [TaskId { subtopology: 0, partition: 0 }, TaskId { subtopology: 0, partition: 1 }];
    let time =
        SubTopologyTime { clocks: vec![SourceClock::Writers(writers.to_vec())], reports_to: Vec::new() };
    let reader = || {
        let id = TaskId { subtopology: 1, partition: 0 };
        let mut t = RunningTask::new(
            id,
            vec!["app-rekey".into()],
            vec![0],
            Box::new(Nothing),
            &time,
            EventTiming::default(),
            0,
        );
        t.caught_up[0] = true;
        t
    };
    let report = |writer: TaskId, watermark: i64, idle: bool, offset: i64| {
        let r = WatermarkReport { writer, watermark, idle }.to_record("app-rekey", 0, 0);
        InputRecord {
            topic: Arc::from("app-rekey"),
            partition: 0,
            offset,
            timestamp: 0,
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    };
    let mut first = reader();
    first.push(0, [report(writers[0], 5_000, false, 0), report(writers[1], 7_000, true, 1)], 0);
    first.process_buffered(0).unwrap();
    assert_eq!(first.time().watermark(), 5_000);
    assert_eq!(first.processed[0], 2, "reports are consumed like records");
    let metadata = first.commit_metadata(0);

    let mut second = reader();
    second.process_buffered(0).unwrap();
    assert_eq!(second.time().watermark(), i64::MIN, "without the checkpoint it waits for both writers");
    let mut third = reader();
    third.restore(0, &metadata);
    third.process_buffered(0).unwrap();
    assert_eq!(third.time().watermark(), 5_000);
}
