//! End-to-end pipeline throughput of the streams runtime on an embedded broker with RocksDB
//! state: input is loaded into a topic first, then the application is timed from start until
//! it has processed everything (outputs written to the broker). Reports records/s, records/s
//! per CPU-second (all threads of the process: engine, broker writes, RocksDB) and peak RSS.
//!
//! `cargo bench -p brook-streams --bench pipelines [-- NAME…]` with NAME in stateless, window,
//! join, rss (default: all). `BROOK_BENCH_SCALE=0.1` shrinks the inputs for a smoke run.

use std::time::{Duration, Instant};

// The same allocator as the `brook` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_streams::dsl::{StreamsBuilder, TimeWindows};
use brook_streams::{Connection, KafkaStreams, StreamsConfig, Topology};

struct Proc {
    cpu_ticks: u64,
}

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    utime + stime
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("BROOK_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((n as f64 * s) as usize).max(1000)
}

fn load(broker: &Broker, topic: &str, partitions: i32, n: usize, f: impl Fn(usize) -> (String, String, i64)) {
    broker.create_topic(topic, partitions, TopicConfig::default()).unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let (k, v, ts) = f(i);
        batch.push(NewRecord::new(Some(k), Some(v)).with_timestamp(ts));
        if batch.len() == 10_000 {
            broker.produce(topic, None, std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        broker.produce(topic, None, batch).unwrap();
    }
}

fn run(name: &str, broker: &Broker, topology: Topology, records: usize, threads: usize) {
    let state = tempfile::tempdir().unwrap();
    // The application id names topics (changelogs), so it may not contain spaces.
    let app: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let mut config = StreamsConfig::new(&app, Connection::Embedded(broker.clone()), state.path());
    config.num_threads = threads;
    config.commit_interval = Duration::from_secs(5);
    // BROOK_BENCH_CHANGELOGS=0 runs without changelog topics, to measure what they cost.
    config.state_changelogs = std::env::var("BROOK_BENCH_CHANGELOGS").map_or(true, |v| v != "0");
    let before = Proc { cpu_ticks: cpu_ticks() };
    let start = Instant::now();
    let mut app = KafkaStreams::start(topology, config).unwrap();
    let quiet = Duration::from_millis(500);
    assert!(
        app.wait_until_idle(quiet, Duration::from_secs(3600)),
        "{name} did not finish: {:?}",
        app.failure()
    );
    let wall = start.elapsed().saturating_sub(quiet).as_secs_f64();
    let cpu = (cpu_ticks() - before.cpu_ticks) as f64 / 100.0;
    app.stop().unwrap();
    let m = app.metrics();
    println!(
        "{name:<28} {records:>10} records  {wall:>7.2} s wall  {cpu:>7.2} s cpu  {:>10.0} rec/s  {:>10.0} rec/s/core  peak RSS {:>6.0} MB  (in {} out {} late {})",
        records as f64 / wall,
        records as f64 / cpu.max(0.01),
        peak_rss_mb(),
        m.records_in,
        m.records_out,
        m.late_records_dropped
    );
}

fn broker(dir: &std::path::Path) -> Broker {
    let mut c = BrokerConfig::new(dir);
    c.flush_interval = Some(Duration::from_secs(5));
    Broker::open(c).unwrap()
}

fn stateless() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(5_000_000);
    load(&broker, "events", 2, n, |i| {
        (format!("user-{}", i % 100_000), format!("page-{}-{:>80}", i % 7, i), i as i64)
    });
    let b = StreamsBuilder::new();
    b.stream::<String, String>("events")
        .filter(|_, v| !v.starts_with("page-3"))
        .map_values(|v| v.to_ascii_uppercase())
        .to("out");
    run("stateless filter+map", &broker, b.build().unwrap(), n, 2);
}

fn window() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(5_000_000);
    let keys = scale(1_000_000);
    // 1M distinct keys, event time advancing 1 ms per record: 10 s tumbling windows.
    load(&broker, "clicks", 2, n, |i| {
        (format!("key-{}", i % keys), "1".to_string(), 1_700_000_000_000 + i as i64)
    });
    let b = StreamsBuilder::new();
    b.stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10_000))
        .count()
        .to_stream()
        .to("counts");
    run("tumbling count 1M keys", &broker, b.build().unwrap(), n, 2);
}

fn join() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let customers = scale(100_000);
    let n = scale(2_000_000);
    load(&broker, "customers", 2, customers, |i| (format!("c{i}"), format!("customer-{i}"), 0));
    load(&broker, "orders", 2, n, |i| (format!("c{}", i % customers), format!("order-{i}"), 1 + i as i64));
    let b = StreamsBuilder::new();
    let table = b.table::<String, String>("customers");
    b.stream::<String, String>("orders").join_table(&table, |o, c| format!("{o}:{c}")).to("enriched");
    run("stream-table join", &broker, b.build().unwrap(), n + customers, 2);
}

fn rss() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(10_000_000);
    load(&broker, "ids", 2, n, |i| (format!("id-{i:010}"), String::new(), i as i64));
    let b = StreamsBuilder::new();
    b.stream::<String, String>("ids").group_by_key().count().to_stream().to("id-counts");
    run("count 10M distinct keys", &broker, b.build().unwrap(), n, 2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all = ["stateless", "window", "join", "rss"];
    let chosen: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        all.iter().copied().filter(|a| args.iter().any(|x| x == a)).collect()
    };
    for name in chosen {
        match name {
            "stateless" => stateless(),
            "window" => window(),
            "join" => join(),
            "rss" => rss(),
            _ => {}
        }
    }
}
