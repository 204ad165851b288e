//! Kill test with real processes: a directory source ingesting 1M change events — from files a
//! writer is still appending to, cut at arbitrary bytes — is SIGKILLed at random moments and
//! restarted each time. The resulting topic must equal, record for record, the one a run
//! without kills writes, and describe the table the generator played.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brook_connect::synthetic::CdcGenerator;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use std::collections::BTreeMap;

use brook_broker::{Broker, Record};
use serde_json::Value;

use crate::open_broker;

const EVENTS: usize = 1_000_000;
const FILES: usize = 20;
const MIN_ROUNDS: usize = 20;

fn ingester(data: &Path, input: &Path, mode: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_brook-cdc-ingest"));
    c.arg(data).arg(input).arg(mode).stdout(Stdio::piped()).stderr(Stdio::inherit());
    c
}

fn run_to_end(data: &Path, input: &Path) -> String {
    let mut child = ingester(data, input, "once").spawn().expect("start the ingester");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next().and_then(Result::ok).unwrap_or_default();
    assert!(child.wait().expect("wait").success(), "the final run failed");
    assert!(line.starts_with("DONE "), "unexpected output: {line}");
    line
}

#[test]
fn sigkilled_directory_source_builds_the_same_table_as_an_uninterrupted_run() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let data = dir.path().join("killed");
    let reference = dir.path().join("reference");
    std::fs::create_dir(&input).unwrap();

    // The writer appends events to numbered files in chunks that cut lines anywhere, with a
    // few malformed lines for the dead-letter topic.
    let writer_dir = input.clone();
    let writer = std::thread::spawn(move || {
        let mut generator = CdcGenerator::new(50_000, 42);
        let mut rng = StdRng::seed_from_u64(7);
        let per_file = EVENTS / FILES;
        for f in 0..FILES {
            let mut text = String::with_capacity(per_file * 340);
            for i in 0..per_file {
                if (f * per_file + i) % 99_991 == 17 {
                    text.push_str("{\"op\":\"c\",\"after\":{broken\n");
                }
                text.push_str(&generator.next_line());
                text.push('\n');
            }
            let mut file = std::fs::File::create(writer_dir.join(format!("events-{f:03}.json"))).unwrap();
            let bytes = text.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let n = rng.random_range(1..96 << 10).min(bytes.len() - at);
                file.write_all(&bytes[at..at + n]).unwrap();
                file.flush().unwrap();
                at += n;
                std::thread::sleep(Duration::from_micros(600));
            }
        }
        generator.table()
    });

    let mut rng = StdRng::seed_from_u64(11);
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || !writer.is_finished() {
        let mut child = ingester(&data, &input, "follow").spawn().expect("start the ingester");
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        rounds += 1;
    }
    let expected_table = writer.join().unwrap();
    let killed_summary = run_to_end(&data, &input);
    let reference_summary = run_to_end(&reference, &input);
    eprintln!("kill test: {rounds} kills, {killed_summary}, {:?}", started.elapsed());

    let (killed, uninterrupted) = (open_broker(&data), open_broker(&reference));
    let records = same_logs(&killed, &uninterrupted, "customers");
    assert!(records > EVENTS, "every event and tombstone was written ({records})");
    let letters = same_logs(&killed, &uninterrupted, "customers.dlq");
    assert_eq!(letters, EVENTS / 99_991 + 1);
    assert_eq!(killed_summary, reference_summary, "counters match the uninterrupted run");
    assert_eq!(table(&killed, "customers"), expected_table);
}

/// Every record of a partition, read in steps (records are compared as they are read).
fn records<'a>(broker: &'a Broker, topic: &str, partition: i32) -> impl Iterator<Item = Record> + 'a {
    let mut next = 0;
    let topic = topic.to_string();
    std::iter::from_fn(move || {
        let batch = broker.read(&topic, partition, next, 1 << 20).expect("read");
        next = batch.last()?.offset + 1;
        Some(batch)
    })
    .flatten()
}

/// Asserts that both brokers hold the same records (offsets, keys, values, headers) in `topic`;
/// returns how many.
fn same_logs(a: &Broker, b: &Broker, topic: &str) -> usize {
    let partitions = a.topic(topic).expect("topic").partition_count();
    assert_eq!(partitions, b.topic(topic).expect("topic").partition_count());
    let mut count = 0;
    for p in 0..partitions {
        let (mut left, mut right) = (records(a, topic, p), records(b, topic, p));
        loop {
            match (left.next(), right.next()) {
                (None, None) => break,
                (Some(x), Some(y)) => {
                    let same =
                        (x.offset, &x.key, &x.value, &x.headers) == (y.offset, &y.key, &y.value, &y.headers);
                    assert!(
                        same,
                        "{topic}-{p}: logs differ at offset {}:\n killed: {x:?}\n reference: {y:?}",
                        x.offset
                    );
                    count += 1;
                }
                (x, y) => panic!("{topic}-{p}: one log is longer: {x:?} / {y:?}"),
            }
        }
    }
    count
}

/// The table a change-event topic describes: key → `after` of its last record.
fn table(broker: &Broker, topic: &str) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for p in 0..broker.topic(topic).expect("topic").partition_count() {
        for r in records(broker, topic, p) {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            let after =
                r.value.and_then(|v| serde_json::from_slice::<Value>(&v).ok()).map(|v| v["after"].clone());
            match after {
                Some(row) if !row.is_null() => table.insert(key, row),
                _ => table.remove(&key),
            };
        }
    }
    table
}
