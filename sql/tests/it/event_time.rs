//! Event time across partitions, on real stream threads over an embedded broker: a windowed
//! count after a `GROUP BY` that re-keys the stream (through a repartition topic that every
//! upstream task writes) gives the batch answer at 2, 4 and 8 partitions while the producers of
//! the partitions run at very different speeds, and an input partition that stays empty holds
//! windows back only for `max.task.idle.ms`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brook_broker::{Broker, NewRecord};
use brook_sql::engine::StatementResult;
use brook_sql::{Engine, Session};

use crate::runtime::{open, run};

const SIZE: i64 = 10_000;
const GRACE: i64 = 1_000;

/// (auction, window start) → (bids, top price).
type Windows = BTreeMap<(i64, i64), (i64, i64)>;

/// The windowed table's output topic: one record per closed window (a second one for the same
/// window fails the test).
fn emitted(broker: &Broker, topic: &str) -> anyhow::Result<Windows> {
    let mut out = Windows::new();
    let Ok(t) = broker.topic(topic) else { return Ok(out) };
    for p in 0..t.partition_count() {
        for r in broker.read(topic, p, 0, 64 << 20)? {
            let key = r.key.ok_or_else(|| anyhow::anyhow!("a window without a key"))?;
            anyhow::ensure!(key.len() == 16, "windowed BIGINT key of {} bytes", key.len());
            let auction = i64::from_be_bytes(key[..8].try_into()?);
            let start = i64::from_be_bytes(key[8..].try_into()?);
            let v: serde_json::Value = serde_json::from_slice(&r.value.unwrap_or_default())?;
            let row = (v["BIDS"].as_i64().unwrap_or(-1), v["TOP"].as_i64().unwrap_or(-1));
            anyhow::ensure!(
                out.insert((auction, start), row).is_none(),
                "window ({auction}, {start}) emitted twice"
            );
        }
    }
    Ok(out)
}

/// Waits until `topic` holds `want` windows (and a moment longer, to catch duplicates).
fn await_windows(broker: &Broker, topic: &str, want: usize) -> anyhow::Result<Windows> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = emitted(broker, topic)?;
        if got.len() >= want || Instant::now() > deadline {
            std::thread::sleep(Duration::from_millis(300));
            return emitted(broker, topic);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn late_records_dropped(engine: &Engine, session: &mut Session, table: &str) -> anyhow::Result<u64> {
    match run(engine, session, &format!("DESCRIBE {table} EXTENDED;"))?.pop() {
        Some(StatementResult::Description(d)) => {
            Ok(d.runtime.ok_or_else(|| anyhow::anyhow!("no runtime statistics"))?.late_records_dropped)
        }
        other => anyhow::bail!("expected a description, got {other:?}"),
    }
}

/// A bid as the producer writes it: JSON with the event time in `date_time`.
fn bid(bidder: i64, auction: i64, price: i64, ts: i64) -> NewRecord {
    let value = format!(r#"{{"auction":{auction},"price":{price},"date_time":{ts}}}"#);
    NewRecord::new(Some(format!("bidder-{bidder}")), Some(value))
}

const SCHEMA: &str = "CREATE STREAM bids (bidder STRING KEY, auction BIGINT, price BIGINT, date_time BIGINT)
  WITH (KAFKA_TOPIC='bids', VALUE_FORMAT='JSON', TIMESTAMP='date_time', PARTITIONS={P});";

fn window_query(name: &str) -> String {
    format!(
        "CREATE TABLE {name} AS SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids
           WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 1 SECOND) GROUP BY auction EMIT FINAL;"
    )
}

#[test]
fn windows_after_a_repartition_match_the_batch_answer_with_skewed_producers() -> anyhow::Result<()> {
    // With 2 stream threads, the tasks that write the repartition topic and those that read
    // it run on different threads.
    for (partitions, threads) in [(2, 2), (4, 1), (8, 2)] {
        let dir = tempfile::tempdir()?;
        let (broker, engine) = open(dir.path())?;
        let mut s = Session::default();
        s.properties.insert("auto.offset.reset".into(), "earliest".into());
        s.properties.insert("ksql.streams.num.stream.threads".into(), threads.to_string());
        run(&engine, &mut s, &SCHEMA.replace("{P}", &partitions.to_string()))?;
        run(&engine, &mut s, &window_query("per_auction"))?;

        // Each partition's producer writes 2 minutes of event time in order, up to 20 ms out
        // of order; partition p pauses p × 15 ms between batches, so the fast ones finish
        // while the slow ones are still near the start.
        let per_partition = 12_000 / partitions as i64;
        let step = 120_000 / per_partition;
        let mut all: Vec<(i64, i64, i64)> = Vec::new();
        let mut plans: Vec<Vec<(i64, i64, i64, i64)>> = Vec::new();
        for p in 0..partitions {
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ (p as u64 + 1);
            let mut rnd = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % n) as i64
            };
            let plan: Vec<_> = (0..per_partition)
                .map(|k| {
                    let ts = (k * step + p as i64 - rnd(21)).max(0);
                    (rnd(50), rnd(30), rnd(1_000), ts)
                })
                .collect();
            all.extend(plan.iter().map(|&(_, a, price, ts)| (a, price, ts)));
            plans.push(plan);
        }
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let handles: Vec<_> = plans
                .iter()
                .enumerate()
                .map(|(p, plan)| {
                    let broker = broker.clone();
                    scope.spawn(move || -> anyhow::Result<()> {
                        for batch in plan.chunks(100) {
                            let records =
                                batch.iter().map(|&(b, a, price, ts)| bid(b, a, price, ts)).collect();
                            broker.produce("bids", Some(p as i32), records)?;
                            std::thread::sleep(Duration::from_millis(15 * p as u64));
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| anyhow::anyhow!("a producer panicked"))??;
            }
            Ok(())
        })?;
        // One bid far ahead in every partition closes every window before it.
        let end = 120_000 + 60_000;
        for p in 0..partitions {
            broker.produce("bids", Some(p), vec![bid(0, 999, 0, end)])?;
            all.push((999, 0, end));
        }

        let mut want = Windows::new();
        for &(auction, price, ts) in &all {
            let start = ts.div_euclid(SIZE) * SIZE;
            if start + SIZE + GRACE <= end {
                let w = want.entry((auction, start)).or_insert((0, i64::MIN));
                w.0 += 1;
                w.1 = w.1.max(price);
            }
        }
        let got = await_windows(&broker, "PER_AUCTION", want.len())?;
        let differing = want.iter().filter(|(k, v)| got.get(k) != Some(v)).count()
            + got.keys().filter(|k| !want.contains_key(k)).count();
        assert_eq!(differing, 0, "{partitions} partitions: {differing} of {} windows differ", want.len());
        assert!(engine.wait_idle(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(400)); // counters are published at commits
        assert_eq!(late_records_dropped(&engine, &mut s, "per_auction")?, 0, "{partitions} partitions");
        engine.shutdown();
        broker.close()?;
    }
    Ok(())
}

#[test]
fn an_empty_partition_holds_windows_for_max_task_idle_ms_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (broker, engine) = open(dir.path())?;
    let mut s = Session::default();
    s.properties.insert("auto.offset.reset".into(), "earliest".into());
    run(&engine, &mut s, &SCHEMA.replace("{P}", "2"))?;
    s.properties.insert("max.task.idle.ms".into(), "1000".into());
    run(&engine, &mut s, &window_query("quick"))?;
    s.properties.insert("max.task.idle.ms".into(), "600000".into());
    run(&engine, &mut s, &window_query("patient"))?;
    // Only partition 0 ever gets data: 25 s of event time.
    let records = (0..50).map(|k| bid(1, 7, k, k * 500)).collect();
    broker.produce("bids", Some(0), records)?;
    let quick = await_windows(&broker, "QUICK", 2)?;
    assert_eq!(quick, Windows::from([((7, 0), (20, 19)), ((7, 10_000), (20, 39))]));
    // With a ten-minute idle timeout, partition 1 may still deliver earlier bids: nothing is
    // final yet.
    assert_eq!(emitted(&broker, "PATIENT")?, Windows::new());
    engine.shutdown();
    broker.close()?;
    Ok(())
}
