//! `brook bench nexmark`: the Nexmark benchmark on Brook SQL.
//!
//! Each query is a Brook SQL file under `benchmarks/nexmark/` (compiled into the binary;
//! `--queries DIR` reads another copy), run after `prelude.sql`, which declares the `bid`,
//! `auction` and `person` sources. The last persistent query of a file writes to a
//! discarding sink (rows are counted and dropped, like Flink's `blackhole` connector);
//! earlier ones feed it through their topics.
//!
//! ```text
//!  nexmark generator ──► JSON records ──┬─ inprocess: pushed batch by batch into the compiled
//!  (events/topic, key)                  │             tasks on this thread (no broker)
//!                                       └─ broker:    written to the embedded broker first;
//!                                                     then the query runs in KafkaStreams
//!                                                     and is timed until it has read it all
//! ```
//!
//! Both modes compile the query with the SQL engine ([`brook_sql::Engine::query_topology`])
//! and time only the query: in process, generating and JSON-encoding the events is measured
//! separately and left out of the wall and CPU time; through the broker, loading the topics
//! happens before the clock starts. CPU time is the whole process's (every thread, RocksDB's
//! included), so "per core" divides events by CPU seconds. Peak RSS is the process high-water
//! mark during the timed part (reset before it starts).
//!
//! `events` counts every generated event (persons, auctions and bids), as Flink's nexmark
//! counts its source's output, whether or not the query reads that event type.

mod events;
mod inprocess;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_client::EmbeddedCluster;
use brook_sql::compile::Sink;
use brook_sql::engine::StatementResult;
use brook_sql::{Engine, EngineConfig, Session};
use brook_streams::{Connection, KafkaStreams, OffsetReset, StreamsConfig, Topology};
use clap::Args;
use serde_json::json;

use events::{Events, TOPICS};
use inprocess::Dataflow;

/// The prelude: sources shared by every query.
const PRELUDE: &str = include_str!("../../../benchmarks/nexmark/prelude.sql");

/// The queries Brook runs, with their SQL.
const QUERIES: &[(&str, &str)] = &[
    ("q0", include_str!("../../../benchmarks/nexmark/q0.sql")),
    ("q1", include_str!("../../../benchmarks/nexmark/q1.sql")),
    ("q2", include_str!("../../../benchmarks/nexmark/q2.sql")),
    ("q3", include_str!("../../../benchmarks/nexmark/q3.sql")),
    ("q4", include_str!("../../../benchmarks/nexmark/q4.sql")),
    ("q5", include_str!("../../../benchmarks/nexmark/q5.sql")),
    ("q7", include_str!("../../../benchmarks/nexmark/q7.sql")),
    ("q8", include_str!("../../../benchmarks/nexmark/q8.sql")),
    ("q11", include_str!("../../../benchmarks/nexmark/q11.sql")),
    ("q14", include_str!("../../../benchmarks/nexmark/q14.sql")),
    ("q15", include_str!("../../../benchmarks/nexmark/q15.sql")),
    ("q16", include_str!("../../../benchmarks/nexmark/q16.sql")),
    ("q17", include_str!("../../../benchmarks/nexmark/q17.sql")),
    ("q18", include_str!("../../../benchmarks/nexmark/q18.sql")),
    ("q19", include_str!("../../../benchmarks/nexmark/q19.sql")),
    ("q20", include_str!("../../../benchmarks/nexmark/q20.sql")),
    ("q21", include_str!("../../../benchmarks/nexmark/q21.sql")),
    ("q22", include_str!("../../../benchmarks/nexmark/q22.sql")),
];

/// Nexmark queries Brook does not run, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "q6",
        "it averages each seller's last 10 winning bids with an OVER window over a retracting input; Brook SQL has no OVER windows (Flink's nexmark does not run q6 either)",
    ),
    ("q9", "it ranks bids per auction with ROW_NUMBER() over a join; Brook SQL has no OVER windows"),
    ("q10", "it measures a partitioned file-system sink, not a query; Brook SQL sinks are topics"),
    ("q12", "it counts bids in processing-time windows (PROCTIME()); Brook SQL windows are event-time only"),
    ("q13", "it joins bids with a bounded side input read from a file; Brook SQL has no file-backed tables"),
];

/// Names of the queries `brook bench nexmark` runs.
pub fn supported_queries() -> impl Iterator<Item = &'static str> {
    QUERIES.iter().map(|(name, _)| *name)
}

/// `brook bench nexmark` options.
#[derive(Debug, Clone, Args)]
pub struct NexmarkArgs {
    /// Query to run: q0–q5, q7, q8, q11, q14–q22.
    #[arg(long)]
    pub query: String,
    /// Events to generate (persons, auctions and bids together).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// inprocess: the generator feeds the compiled query directly; broker: events are written
    /// to the embedded broker first, then the query reads them in the streams runtime.
    #[arg(long, default_value = "inprocess", value_parser = ["inprocess", "broker"])]
    pub mode: String,
    /// Events per second of event time (Flink's nexmark runs use 10 M).
    #[arg(long, default_value_t = 10_000_000)]
    pub rate: usize,
    /// Events generated (and pushed, in process) at a time.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    /// State stores: rocksdb (as the runtime uses) or memory.
    #[arg(long, default_value = "rocksdb", value_parser = ["rocksdb", "memory"])]
    pub state: String,
    /// Partitions of the event topics (broker mode).
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Stream threads per query (broker mode).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Read the query files from this directory instead of the copies built into the binary.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Report {
    query: String,
    mode: String,
    events: u64,
    wall_s: f64,
    cpu_s: f64,
    peak_rss_bytes: u64,
    /// Events of the types the query reads.
    read: u64,
    /// Rows that reached the discarding sink.
    output_rows: u64,
    /// Time spent generating events (in process; not part of wall_s).
    generate_s: f64,
}

impl Report {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall_s.max(1e-9)
    }

    fn events_per_sec_per_core(&self) -> f64 {
        self.events as f64 / self.cpu_s.max(1e-9)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "query": self.query,
            "events": self.events,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "events_per_sec": self.events_per_sec(),
            "events_per_sec_per_core": self.events_per_sec_per_core(),
            "peak_rss_bytes": self.peak_rss_bytes,
        })
    }

    fn text(&self) -> String {
        let mut out = format!(
            "nexmark {} ({})\n  events               {}\n  wall                 {:.3} s\n  cpu                  {:.3} s ({:.2} cores)\n  events/s             {:.0}\n  events/s per core    {:.0}\n  peak RSS             {:.1} MB\n  read by the query    {} events\n  rows to the sink     {}",
            self.query,
            self.mode,
            self.events,
            self.wall_s,
            self.cpu_s,
            self.cpu_s / self.wall_s.max(1e-9),
            self.events_per_sec(),
            self.events_per_sec_per_core(),
            self.peak_rss_bytes as f64 / 1e6,
            self.read,
            self.output_rows,
        );
        if self.generate_s > 0.0 {
            out.push_str(&format!("\n  generating events    {:.3} s (not timed)", self.generate_s));
        }
        out
    }
}

/// Runs `brook bench nexmark`.
pub async fn run(args: NexmarkArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.batch_size == 0 || args.rate == 0 || args.partitions < 1 || args.threads == 0
    {
        bail!("--events, --batch-size, --rate, --partitions and --threads must be at least 1");
    }
    let report = tokio::task::spawn_blocking(move || bench(&args).map(|r| (r, args.json)))
        .await
        .context("the benchmark thread failed")?;
    let (report, json) = report?;
    if json {
        println!("{}", report.json());
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

/// The SQL of a query and the prelude, from the binary or from `dir`.
fn query_sql(name: &str, dir: Option<&Path>) -> anyhow::Result<(String, String)> {
    let name = name.to_lowercase();
    if let Some((_, why)) = SKIPPED.iter().find(|(q, _)| *q == name) {
        bail!("Nexmark {name} is not supported: {why}");
    }
    let Some((_, builtin)) = QUERIES.iter().find(|(q, _)| *q == name) else {
        bail!(
            "unknown Nexmark query '{name}'; the supported queries are {}",
            supported_queries().collect::<Vec<_>>().join(", ")
        );
    };
    match dir {
        None => Ok((PRELUDE.to_string(), builtin.to_string())),
        Some(dir) => {
            let read = |file: &str| {
                let path = dir.join(file);
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
            };
            Ok((read("prelude.sql")?, read(&format!("{name}.sql"))?))
        }
    }
}

/// A broker, a deterministic engine holding the catalog, and the query's topologies — the
/// last one writing to the discarding sink `rows`.
struct Setup {
    broker: Broker,
    /// `(application id, topology)` per persistent query of the file, in order.
    topologies: Vec<(String, Topology)>,
    rows: Arc<AtomicU64>,
    /// Event topics some query reads.
    read_topics: Vec<&'static str>,
}

fn setup(args: &NexmarkArgs, dir: &Path) -> anyhow::Result<Setup> {
    let (prelude, query) = query_sql(&args.query, args.queries.as_deref())?;
    let mut config = BrokerConfig::new(dir.join("broker"));
    // The input is loaded once and read back from the page cache; it need not be fsynced.
    config.flush_interval = None;
    let broker = Broker::open(config).context("opening the embedded broker")?;
    for topic in TOPICS {
        broker.create_topic(topic, args.partitions, TopicConfig::default())?;
    }
    // The engine only plans and compiles: its deterministic executor never sees these topics
    // written (the bench writes to the broker directly).
    let engine = Engine::open(Arc::new(EmbeddedCluster::new(broker.clone())), EngineConfig::deterministic())?;
    let mut session = Session::default();
    let mut ids = Vec::new();
    for text in [&prelude, &query] {
        for executed in engine.execute(text, &mut session) {
            match executed.result {
                Ok(StatementResult::Message { query_id: Some(id), .. }) => ids.push(id),
                Ok(_) => {}
                Err(e) => bail!("{}: {e}\n  in: {}", args.query, executed.statement),
            }
        }
    }
    if ids.is_empty() {
        bail!("{} creates no persistent query (CREATE STREAM|TABLE … AS SELECT)", args.query);
    }
    let rows = Arc::new(AtomicU64::new(0));
    let mut topologies = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let sink = (i + 1 == ids.len()).then(|| Sink::Discard { rows: rows.clone() });
        let topology = engine.query_topology(id, sink)?;
        topologies.push((format!("nexmark-{}-{id}", args.query.to_lowercase()), topology));
    }
    let read_topics = TOPICS
        .into_iter()
        .filter(|t| topologies.iter().any(|(_, topo)| topo.source_topics().iter().any(|s| s == t)))
        .collect();
    Ok(Setup { broker, topologies, rows, read_topics })
}

fn bench(args: &NexmarkArgs) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let setup = setup(args, dir.path())?;
    let report = match args.mode.as_str() {
        "broker" => through_broker(args, &setup, dir.path()),
        _ => in_process(args, &setup, dir.path()),
    };
    setup.broker.close()?;
    report
}

/// The generator feeds the compiled tasks directly.
fn in_process(args: &NexmarkArgs, setup: &Setup, dir: &Path) -> anyhow::Result<Report> {
    let state = inprocess::state_config(&args.state, &dir.join("state"));
    let mut flow = Dataflow::new(setup.topologies.clone(), &state)?;
    let mut generator = Events::new(args.rate);
    let mut generate = Duration::ZERO;
    let mut generate_cpu = Duration::ZERO;
    let mut pushed = [0u64; 3];
    reset_peak_rss();
    let (start, cpu_start) = (Instant::now(), process_cpu());
    let mut left = args.events;
    while left > 0 {
        let n = left.min(args.batch_size as u64);
        left -= n;
        let (t, c) = (Instant::now(), thread_cpu());
        let batch = generator.next_batch(n as usize);
        generate += t.elapsed();
        generate_cpu += thread_cpu().saturating_sub(c);
        for (i, topic) in TOPICS.iter().enumerate() {
            if !flow.reads(topic) {
                continue;
            }
            pushed[i] += batch.topics[i].len() as u64;
            flow.push(topic, batch.topics[i].iter().map(|e| (e.key.clone(), e.value.clone(), e.timestamp)));
        }
        drop(batch);
        flow.run()?;
    }
    flow.flush()?;
    let wall = start.elapsed().saturating_sub(generate);
    let cpu = process_cpu().saturating_sub(cpu_start).saturating_sub(generate_cpu);
    let skipped = flow.metrics().records_skipped;
    check_errors(flow.errors().iter().map(|e| format!("{}: {}", e.operator, e.reason)), skipped)?;
    for (i, topic) in TOPICS.iter().enumerate() {
        let consumed = flow.consumed(topic) as u64;
        if flow.reads(topic) && consumed != pushed[i] {
            bail!("{topic}: {} records pushed but only {consumed} processed", pushed[i]);
        }
    }
    Ok(Report {
        query: args.query.to_lowercase(),
        mode: "inprocess".into(),
        events: args.events,
        wall_s: wall.as_secs_f64(),
        cpu_s: cpu.as_secs_f64(),
        peak_rss_bytes: peak_rss(),
        read: pushed.iter().sum(),
        output_rows: setup.rows.load(Ordering::Relaxed),
        generate_s: generate.as_secs_f64(),
    })
}

/// Events are written to the broker, then the query reads them in the streams runtime.
fn through_broker(args: &NexmarkArgs, setup: &Setup, dir: &Path) -> anyhow::Result<Report> {
    let mut generator = Events::new(args.rate);
    let mut written = [0u64; 3];
    let mut left = args.events;
    while left > 0 {
        let n = left.min(args.batch_size as u64);
        left -= n;
        let batch = generator.next_batch(n as usize);
        for (i, topic) in TOPICS.iter().enumerate() {
            if batch.topics[i].is_empty() {
                continue;
            }
            written[i] += batch.topics[i].len() as u64;
            let records = batch.topics[i]
                .iter()
                .map(|e| NewRecord {
                    key: e.key.clone(),
                    value: Some(e.value.clone()),
                    headers: Vec::new(),
                    timestamp: Some(e.timestamp),
                })
                .collect();
            setup.broker.produce(topic, None, records)?;
        }
    }
    // Only the query is timed: from starting its applications until they have read everything
    // and gone quiet (the quiet periods are subtracted).
    const QUIET: Duration = Duration::from_millis(100);
    reset_peak_rss();
    let (start, cpu_start) = (Instant::now(), process_cpu());
    let mut apps = Vec::new();
    for (app, topology) in &setup.topologies {
        let mut config =
            StreamsConfig::new(app, Connection::Embedded(setup.broker.clone()), dir.join("state"));
        config.num_threads = args.threads;
        config.auto_offset_reset = OffsetReset::Earliest;
        if args.state == "memory" {
            config.state = brook_streams::state::StateConfig::Memory;
        }
        let streams =
            KafkaStreams::start(topology.clone(), config).with_context(|| format!("starting {app}"))?;
        apps.push((app.clone(), streams));
    }
    for (app, streams) in &apps {
        if !streams.wait_until_idle(QUIET, Duration::from_secs(24 * 3600)) {
            bail!("{app} did not finish: {}", streams.failure().unwrap_or_else(|| "timed out".into()));
        }
    }
    let wall = start.elapsed().saturating_sub(QUIET * apps.len() as u32);
    let cpu = process_cpu().saturating_sub(cpu_start);
    let peak = peak_rss();
    let mut errors = Vec::new();
    let mut skipped = 0;
    let mut first_in = 0;
    for (i, (app, mut streams)) in apps.into_iter().enumerate() {
        streams.stop().with_context(|| format!("stopping {app}"))?;
        errors.extend(streams.take_errors().into_iter().map(|e| format!("{}: {}", e.operator, e.reason)));
        let m = streams.metrics();
        skipped += m.records_skipped;
        if i == 0 {
            first_in = m.records_in;
        }
    }
    check_errors(errors.into_iter(), skipped)?;
    let read: u64 = TOPICS
        .iter()
        .enumerate()
        .filter(|(_, t)| setup.read_topics.contains(t))
        .map(|(i, _)| written[i])
        .sum();
    if first_in < read.min(1) {
        bail!("the query processed no input ({read} events written to the topics it reads)");
    }
    Ok(Report {
        query: args.query.to_lowercase(),
        mode: "broker".into(),
        events: args.events,
        wall_s: wall.as_secs_f64(),
        cpu_s: cpu.as_secs_f64(),
        peak_rss_bytes: peak,
        read,
        output_rows: setup.rows.load(Ordering::Relaxed),
        generate_s: 0.0,
    })
}

/// Fails when records were skipped: Nexmark data is well-formed, so a skip is a bug.
fn check_errors(mut errors: impl Iterator<Item = String>, skipped: u64) -> anyhow::Result<()> {
    if skipped == 0 {
        return Ok(());
    }
    let first = errors.next().unwrap_or_else(|| "no reason recorded".into());
    bail!("{skipped} records were skipped by processing errors; the first: {first}")
}

/// CPU time of the whole process (all threads, including finished ones), from
/// `/proc/self/stat` (clock ticks of 10 ms).
pub(super) fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (in parentheses, may contain spaces): utime is the 12th.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok())).sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time of the calling thread in nanoseconds, from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0).
pub(super) fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        tracing::debug!(error = %e, "cannot reset the peak RSS; it includes the setup");
    }
}

/// Peak resident set size in bytes (`VmHWM`).
pub(super) fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_a_file_and_skipped_ones_say_why() {
        for (name, sql) in QUERIES {
            assert!(sql.contains("CREATE"), "{name} creates no query");
            assert!(sql.starts_with("-- Nexmark"), "{name} does not open with its description");
        }
        let err = query_sql("q6", None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("OVER windows"), "{err}");
        let err = query_sql("q99", None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("q0, q1"), "{err}");
    }

    #[test]
    fn process_and_thread_cpu_advance() {
        let (p, t) = (process_cpu(), thread_cpu());
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > t, "thread CPU did not advance");
        assert!(process_cpu() >= p);
    }
}
