//! File source throughput on JSON lines: Nexmark-style bids of about 180 bytes
//! ([`BidGenerator`]) read from one file into a 2-partition topic of an embedded broker.
//!
//! * `file_source/json_bids`: the whole connector in `once` mode, `format=json`, no key —
//!   read, split into lines, check each line is JSON, route, stamp the input position in the
//!   headers, append, commit the position (data fsynced first).
//! * `file_source/json_bids_keyed`: the same with `'key'='auction'` (the key is taken from the
//!   line, so each line is parsed for that field).
//! * `split/json_bids`: only the [`RecordReader`] — read the file and cut it into lines.
//!
//! The `cpu` benchmarks are timed in CPU time of the whole process (every thread: the
//! connector's, which does nearly all the work, and the broker's), so criterion's throughput is
//! **lines per CPU-second: lines/s per core**. The `wall` one uses wall-clock time and includes
//! waiting for the fsync. `cargo bench --workspace --bench lines`; `BROOK_BENCH_SCALE=0.1` shrinks the
//! input (200,000 lines at scale 1).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// The same allocator as the `brook` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use brook_broker::{Broker, BrokerConfig};
use brook_client::EmbeddedCluster;
use brook_connect::reader::{Framing, ReadFrom, RecordReader};
use brook_connect::synthetic::BidGenerator;
use brook_connect::{ConnectorConfig, ConnectorDefinition, ConnectorKind, Metrics, StopSignal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// CPU time (user and system) of this process's threads, in nanoseconds, from
/// `/proc/self/task/*/schedstat`. (The threads live as long as the benchmark, so none of their
/// time is lost when one ends.)
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

fn lines() -> u64 {
    let s: f64 = std::env::var("BROOK_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((200_000.0 * s) as u64).max(1000)
}

/// Writes the corpus: `n` bid lines.
fn corpus(dir: &std::path::Path, n: u64) -> std::path::PathBuf {
    let path = dir.join("bids.json");
    let mut generator = BidGenerator::new(1);
    let mut text = String::with_capacity(n as usize * 190);
    for _ in 0..n {
        generator.write_line(&mut text);
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a source over `path` into a fresh topic; returns its (process CPU, wall) time.
fn ingest(broker: &Broker, path: &std::path::Path, keyed: bool, n: u64) -> (Duration, Duration) {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let name = format!("bench-{}", RUN.fetch_add(1, Ordering::Relaxed));
    let mut props = vec![
        ("connector", "file"),
        ("path", path.to_str().unwrap()),
        ("format", "json"),
        ("topic", "bids"),
        ("partitions", "2"),
        ("mode", "once"),
    ];
    if keyed {
        props.push(("key", "auction"));
    }
    let def = ConnectorDefinition::new(&name, ConnectorKind::Source, props).unwrap();
    let ConnectorConfig::Source(config) = def.config().unwrap() else { panic!("expected a source") };
    let metrics = Arc::new(Metrics::default());
    let mut source = brook_connect::source::FileSource::new(
        &name,
        config,
        Arc::new(EmbeddedCluster::new(broker.clone())),
        metrics.clone(),
    );
    let (wall, cpu) = (Instant::now(), process_cpu());
    source.run(&StopSignal::new()).unwrap();
    let times = (process_cpu() - cpu, wall.elapsed());
    let m = metrics.snapshot();
    assert_eq!((m.records_in, m.records_out, m.dlq), (n, n, 0), "every line becomes a record");
    broker.delete_topic("bids").unwrap();
    broker.delete_topic("bids.dlq").unwrap();
    times
}

fn file_source(c: &mut Criterion) {
    let n = lines();
    let dir = tempfile::tempdir().unwrap();
    let path = corpus(dir.path(), n);
    let mut config = BrokerConfig::new(dir.path().join("broker"));
    config.flush_interval = None;
    let broker = Broker::open(config).unwrap();

    let mut g = c.benchmark_group("file_source");
    g.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Elements(n));
    for (bench, keyed) in [("json_bids", false), ("json_bids_keyed", true)] {
        g.bench_function(format!("{bench}/cpu"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| ingest(&broker, &path, keyed, n).0).sum())
        });
    }
    g.bench_function("json_bids/wall", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(&broker, &path, false, n).1).sum())
    });
    g.finish();
    broker.close().unwrap();
}

fn split(c: &mut Criterion) {
    let n = lines();
    let dir = tempfile::tempdir().unwrap();
    let path = corpus(dir.path(), n);
    let file = std::fs::File::open(&path).unwrap();
    let size = file.metadata().unwrap().len();
    let reader = RecordReader::new(Framing::Lines { json_tail: true }, 1_000_000);
    let mut g = c.benchmark_group("split");
    g.sample_size(20).throughput(Throughput::Elements(n));
    g.bench_function("json_bids/cpu", |b| {
        let mut out = Vec::new();
        b.iter_custom(|iters| {
            let cpu = process_cpu();
            for _ in 0..iters {
                let mut from =
                    ReadFrom { offset: 0, size, line_open: false, final_eof: true, budget: 1 << 20 };
                let mut count = 0;
                while from.offset < size {
                    out.clear();
                    let end = reader.read(&file, from, &mut out).unwrap();
                    count += out.len() as u64;
                    from.offset = end.offset;
                    from.line_open = end.line_open;
                }
                assert_eq!(count, n);
            }
            process_cpu() - cpu
        })
    });
    g.finish();
}

criterion_group!(benches, file_source, split);
criterion_main!(benches);
