//! CDC ingestion throughput: Debezium change events from files into a topic, and from the
//! topic into a table.
//!
//! 1. **into a topic**: a directory of Debezium JSON files (a `customers` table played by
//!    [`CdcGenerator`]: snapshot, inserts, updates, deletes with tombstones, primary-key
//!    changes, replayed duplicates) is read by the file source connector in `once` mode into a
//!    4-partition topic of an embedded broker — decoding, keying, duplicate detection, DLQ
//!    checks and exactly-once position commits included.
//! 2. **into a table**: a streams application materialises that topic as a table of rows
//!    (`brook_connect::debezium::table`: upserts from `after`, deletes from tombstones) in
//!    RocksDB and writes the table's changelog to a topic, on 2 stream threads.
//!
//! Each phase reports events/s and events/s per CPU-second of the whole process (per core).
//! The end-to-end figure (files → table) is the sum of both phases' times.
//!
//! `cargo bench -p brook-connect --bench cdc`; `BROOK_BENCH_SCALE=0.1` shrinks the input.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

// The same allocator as the `brook` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use brook_broker::{Broker, BrokerConfig};
use brook_client::EmbeddedCluster;
use brook_connect::synthetic::CdcGenerator;
use brook_connect::{ConnectorConfig, ConnectorDefinition, ConnectorKind, Metrics, StopSignal};
use brook_streams::dsl::StreamsBuilder;
use brook_streams::{Connection, KafkaStreams, StreamsConfig};
use serde::{Deserialize, Serialize};

/// A row of the generated `customers` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Customer {
    id: i64,
    name: String,
    email: String,
    city: String,
    balance: f64,
    version: i64,
}

brook_streams::json_data!(Customer);

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    ticks as f64 / 100.0
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("BROOK_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((n as f64 * s) as usize).max(1000)
}

fn report(name: &str, events: u64, wall: f64, cpu: f64) {
    println!(
        "{name:<22} {events:>9} events  {wall:>6.2} s wall  {cpu:>6.2} s cpu  {:>9.0} events/s  {:>9.0} events/s/core",
        events as f64 / wall.max(1e-9),
        events as f64 / cpu.max(0.01)
    );
}

fn main() {
    let lines = scale(1_000_000);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let mut generator = CdcGenerator::new((lines / 10) as u64, 7);
    let files = 10;
    for f in 0..files {
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(input.join(format!("{f:03}.json"))).unwrap());
        for _ in 0..lines / files {
            writeln!(out, "{}", generator.next_line()).unwrap();
        }
    }
    let rows = generator.table().len();

    let mut config = BrokerConfig::new(work.path().join("broker"));
    config.flush_interval = Some(Duration::from_secs(1));
    let broker = Broker::open(config).unwrap();

    // 1. Files → topic.
    let def = ConnectorDefinition::new(
        "cdc-bench",
        ConnectorKind::Source,
        [
            ("connector", "file"),
            ("path", input.to_str().unwrap()),
            ("pattern", "*.json"),
            ("format", "debezium_json"),
            ("topic", "customers"),
            ("key", "id"),
            ("partitions", "4"),
            ("mode", "once"),
        ],
    )
    .unwrap();
    let ConnectorConfig::Source(source) = def.config().unwrap() else { panic!("expected a source") };
    let metrics = Arc::new(Metrics::default());
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    brook_connect::source::FileSource::new(
        "cdc-bench",
        source,
        Arc::new(EmbeddedCluster::new(broker.clone())),
        metrics.clone(),
    )
    .run(&StopSignal::new())
    .unwrap();
    let (wall1, cpu1) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let m = metrics.snapshot();
    assert_eq!(m.dlq, 0, "the generated events are well-formed");
    assert_eq!(m.records_in as usize, lines / files * files, "every line is read");
    report("files -> topic", m.records_in, wall1, cpu1);
    println!("  ({} records written: change events and tombstones, duplicates dropped)", m.records_out);

    // 2. Topic → table (RocksDB), changelog to a topic.
    let b = StreamsBuilder::new();
    brook_connect::debezium::table::<String, Customer>(&b, "customers").to_stream().to("customers-rows");
    let state = work.path().join("state");
    let mut sc = StreamsConfig::new("cdc-table", Connection::Embedded(broker.clone()), &state);
    sc.num_threads = 2;
    sc.commit_interval = Duration::from_secs(5);
    sc.auto_offset_reset = brook_streams::OffsetReset::Earliest;
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let mut app = KafkaStreams::start(b.build().unwrap(), sc).unwrap();
    let quiet = Duration::from_millis(500);
    assert!(app.wait_until_idle(quiet, Duration::from_secs(3600)), "did not finish: {:?}", app.failure());
    let (wall2, cpu2) = (start.elapsed().saturating_sub(quiet).as_secs_f64(), cpu_seconds() - cpu0);
    app.stop().unwrap();
    let sm = app.metrics();
    report("topic -> table", m.records_in, wall2, cpu2);
    println!(
        "  ({} records in, {} table changes out; final table: {rows} rows)",
        sm.records_in, sm.records_out
    );
    report("files -> table", m.records_in, wall1 + wall2, cpu1 + cpu2);
    broker.close().unwrap();
}
