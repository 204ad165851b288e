//! Kill tests with real processes: a directory source ingesting 1M change events — from files a
//! writer is still appending to, cut at arbitrary bytes — is SIGKILLed at random moments and
//! restarted each time. The resulting topic must equal, record for record, the one a run
//! without kills writes, and describe the table the generator played. The same for a JSON-lines
//! source (the batch-encoding fast path: no key, lines spread over two partitions).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brook_connect::synthetic::{BidGenerator, CdcGenerator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use std::collections::BTreeMap;

use brook_broker::{Broker, Record};
use serde_json::Value;

use crate::open_broker;

const EVENTS: usize = 1_000_000;
const FILES: usize = 20;
const MIN_ROUNDS: usize = 20;

fn ingester(data: &Path, input: &Path, mode: &str, json: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_brook-cdc-ingest"));
    c.arg(data).arg(input).arg(mode).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if json {
        c.arg("json");
    }
    c
}

/// A temporary directory with `input/` (created) for the files, and the paths of the data
/// directories of the killed run and of the uninterrupted reference run.
fn kill_dirs() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let (data, reference) = (dir.path().join("killed"), dir.path().join("reference"));
    (dir, input, data, reference)
}

fn run_to_end(data: &Path, input: &Path, json: bool) -> String {
    let mut child = ingester(data, input, "once", json).spawn().expect("start the ingester");
    let stdout = child.stdout.take().expect("stdout");
    let line = BufReader::new(stdout).lines().next().and_then(Result::ok).unwrap_or_default();
    assert!(child.wait().expect("wait").success(), "the final run failed");
    assert!(line.starts_with("DONE "), "unexpected output: {line}");
    line
}

#[test]
fn sigkilled_directory_source_builds_the_same_table_as_an_uninterrupted_run() {
    let started = Instant::now();
    let (_dir, input, data, reference) = kill_dirs();

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
            append_in_cuts(
                &writer_dir.join(format!("events-{f:03}.json")),
                text.as_bytes(),
                &mut rng,
                Duration::from_micros(600),
            );
        }
        generator.table()
    });

    let rounds = kill_until_written(&data, &input, false, MIN_ROUNDS, &writer);
    let expected_table = writer.join().unwrap();
    let killed_summary = run_to_end(&data, &input, false);
    let reference_summary = run_to_end(&reference, &input, false);
    eprintln!("kill test: {rounds} kills, {killed_summary}, {:?}", started.elapsed());

    let (killed, uninterrupted) = (open_broker(&data), open_broker(&reference));
    let records = same_logs(&killed, &uninterrupted, "customers");
    assert!(records > EVENTS, "every event and tombstone was written ({records})");
    let letters = same_logs(&killed, &uninterrupted, "customers.dlq");
    assert_eq!(letters, EVENTS / 99_991 + 1);
    assert_eq!(killed_summary, reference_summary, "counters match the uninterrupted run");
    assert_eq!(table(&killed, "customers"), expected_table);
}

#[test]
fn sigkilled_json_lines_source_writes_the_same_topic_as_an_uninterrupted_run() {
    const LINES: usize = 300_000;
    const JSON_FILES: usize = 6;
    let started = Instant::now();
    let (_dir, input, data, reference) = kill_dirs();

    // Bids with a malformed line and a line that is not UTF-8 now and then, appended in cuts.
    let writer_dir = input.clone();
    let writer = std::thread::spawn(move || {
        let mut generator = BidGenerator::new(5);
        let mut rng = StdRng::seed_from_u64(8);
        let per_file = LINES / JSON_FILES;
        for f in 0..JSON_FILES {
            let mut text = String::with_capacity(per_file * 190);
            for i in 0..per_file {
                generator.write_line(&mut text);
                if (f * per_file + i) % 49_999 == 7 {
                    text.push_str("{\"auction\":1,\"price\":\n");
                }
            }
            let mut bytes = text.into_bytes();
            let bad = b"{\"auction\":2,\"url\":\"\xff\"}\n";
            let at = bytes.len() / 2;
            let at = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
            bytes.splice(at..at, bad.iter().copied());
            // Slower than the source reads, so kills land while files grow.
            append_in_cuts(
                &writer_dir.join(format!("bids-{f:03}.json")),
                &bytes,
                &mut rng,
                Duration::from_millis(4),
            );
        }
    });

    let rounds = kill_until_written(&data, &input, true, 20, &writer);
    writer.join().unwrap();
    let killed_summary = run_to_end(&data, &input, true);
    let reference_summary = run_to_end(&reference, &input, true);
    eprintln!("json kill test: {rounds} kills, {killed_summary}, {:?}", started.elapsed());

    let (killed, uninterrupted) = (open_broker(&data), open_broker(&reference));
    let malformed = (0..LINES).filter(|i| i % 49_999 == 7).count();
    assert_eq!(same_logs(&killed, &uninterrupted, "bids"), LINES, "every bid was written once");
    assert_eq!(same_logs(&killed, &uninterrupted, "bids.dlq"), malformed + JSON_FILES);
    assert_eq!(killed_summary, reference_summary, "counters match the uninterrupted run");
}

/// Writes `bytes` to a new file at `path` in pieces of random size (cutting lines anywhere),
/// pausing between them, as a slow writer does.
fn append_in_cuts(path: &Path, bytes: &[u8], rng: &mut StdRng, pause: Duration) {
    let mut file = std::fs::File::create(path).unwrap();
    let mut at = 0;
    while at < bytes.len() {
        let n = rng.random_range(1..96 << 10).min(bytes.len() - at);
        file.write_all(&bytes[at..at + n]).unwrap();
        file.flush().unwrap();
        at += n;
        std::thread::sleep(pause);
    }
}

/// Starts the ingester in `follow` mode and SIGKILLs it after a random moment, again and again,
/// until the writer is done and at least `min_rounds` kills happened; returns the kills.
fn kill_until_written<T>(
    data: &Path,
    input: &Path,
    json: bool,
    min_rounds: usize,
    writer: &std::thread::JoinHandle<T>,
) -> usize {
    let mut rng = StdRng::seed_from_u64(11);
    let mut rounds = 0;
    while rounds < min_rounds || !writer.is_finished() {
        let mut child = ingester(data, input, "follow", json).spawn().expect("start the ingester");
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        rounds += 1;
    }
    rounds
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
