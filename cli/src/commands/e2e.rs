//! `brook bench e2e`: the user's path end to end. A file of JSON bids is read by a file
//! source connector into a topic, and a persistent SQL query over that topic writes its
//! result to another topic — all as SQL statements, in one process, as `brook sql` runs them
//! on its embedded engine.
//!
//! ```text
//!  bids.json ─► CREATE SOURCE CONNECTOR (file, json, once) ─► topic bids (2 partitions)
//!                                                                  │ TIMESTAMP='date_time'
//!    window: CREATE TABLE … WINDOW TUMBLING (10 s, GRACE 1 s) … EMIT FINAL ◄─┤
//!    filter: CREATE STREAM … AS SELECT … WHERE price > 90000 ◄───────────────┘
//!                                  │
//!                                  ▼ output topic (read back into --output as CSV)
//! ```
//!
//! The input is generated ([`BidGenerator`]: Nexmark-style bids of about 180 bytes, event time
//! out of order by up to 5 ms) unless `--input` already exists. The data directory is a
//! temporary one with the broker's default flush settings; the query runs on `--threads` stream
//! threads (`ksql.streams.num.stream.threads`, default 1).
//!
//! The clock starts before the query statement and stops when (1) the connector has finished
//! — every line read, appended and made durable, its position committed — and (2) the query
//! has processed everything: its stream threads stay idle for a quiet period, which is
//! subtracted. `output_complete_s` is when the output topic last grew (polled every 5 ms):
//! what a user waiting for results sees. CPU time is the whole process's.
//!
//! With `--bootstrap-servers HOST:PORT` the topics live in that cluster instead (a fresh `brook
//! server` elsewhere: the run creates its streams and topics there), as with `brook sql
//! --bootstrap-servers`; the connector and the query still run in this process, and the CPU
//! time reported is this process's only.
//!
//! `benchmarks/e2e/run.sh` runs this next to DuckDB and PyFlink on the same file and compares
//! the window query's rows with DuckDB's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_broker::{Broker, BrokerConfig};
use brook_client::{Cluster, EmbeddedCluster, KafkaCluster};
use brook_connect::synthetic::BidGenerator;
use brook_connect::{ConnectorKind, ConnectorManager, ConnectorState};
use brook_sql::engine::StatementResult;
use brook_sql::{Engine, EngineConfig, Session};
use clap::Args;
use serde_json::{Value, json};

use super::nexmark::{peak_rss, process_cpu, reset_peak_rss};

/// The stream over the connector's topic; `{partitions}` is filled in.
const STREAM: &str = "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, \
     url STRING, date_time BIGINT, extra STRING) WITH (KAFKA_TOPIC='bids', VALUE_FORMAT='JSON', \
     PARTITIONS={partitions}, TIMESTAMP='date_time');";

/// The window query of issue 27.
pub const WINDOW_QUERY: &str = "CREATE TABLE bids_per_auction AS SELECT auction, COUNT(*) AS bids, \
     MAX(price) AS max_price FROM bids WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 1 SECOND) \
     GROUP BY auction EMIT FINAL;";

/// The filter query: about 10 % of the bids pass.
pub const FILTER_QUERY: &str =
    "CREATE STREAM big_bids AS SELECT auction, bidder, price, date_time FROM bids WHERE price > 90000;";

/// Tumbling window size of [`WINDOW_QUERY`], in ms.
const WINDOW_MS: i64 = 10_000;

/// `brook bench e2e` options.
#[derive(Debug, Clone, Args)]
pub struct E2eArgs {
    /// The JSON-lines input; generated with --events bids if the file does not exist.
    #[arg(long)]
    pub input: PathBuf,
    /// Bids to generate when --input does not exist.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Bids per second of event time in a generated input (at 10,000 a 10-second window
    /// holds 100,000 bids; the 1-second grace period is 10,000 bids).
    #[arg(long, default_value_t = 10_000)]
    pub events_per_second: u64,
    /// Auctions bid on in a generated input.
    #[arg(long, default_value_t = 1_000)]
    pub auctions: u64,
    /// window: count and maximum price per auction per 10-second window (EMIT FINAL);
    /// filter: the bids with price > 90000.
    #[arg(long, default_value = "window", value_parser = ["window", "filter"])]
    pub query: String,
    /// Partitions of the bids topic.
    #[arg(long, default_value_t = 2)]
    pub partitions: i32,
    /// Stream threads of the query (`ksql.streams.num.stream.threads`).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Write the query's output rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run against the Kafka cluster at HOST:PORT (a fresh `brook server`) instead of an
    /// embedded broker.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_servers: Option<String>,
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Report {
    query: String,
    lines: u64,
    bytes: u64,
    wall_s: f64,
    cpu_s: f64,
    connector_s: f64,
    output_complete_s: f64,
    output_rows: u64,
    dead_lettered: u64,
    processing_errors: usize,
    peak_rss_bytes: u64,
}

impl Report {
    fn json(&self) -> Value {
        json!({
            "query": self.query,
            "lines": self.lines,
            "bytes": self.bytes,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "connector_s": self.connector_s,
            "output_complete_s": self.output_complete_s,
            "events_per_sec": self.lines as f64 / self.wall_s.max(1e-9),
            "output_rows": self.output_rows,
            "dead_lettered": self.dead_lettered,
            "processing_errors": self.processing_errors,
            "peak_rss_bytes": self.peak_rss_bytes,
        })
    }

    fn text(&self) -> String {
        format!(
            "e2e {} (file → connector → topic → query → topic)\n  lines                {} ({:.1} MB)\n  wall                 {:.3} s ({:.0} lines/s)\n  cpu                  {:.3} s ({:.2} cores)\n  connector finished   {:.3} s\n  output complete      {:.3} s\n  output rows          {}\n  dead-lettered        {}\n  processing errors    {}\n  peak RSS             {:.1} MB",
            self.query,
            self.lines,
            self.bytes as f64 / 1e6,
            self.wall_s,
            self.lines as f64 / self.wall_s.max(1e-9),
            self.cpu_s,
            self.cpu_s / self.wall_s.max(1e-9),
            self.connector_s,
            self.output_complete_s,
            self.output_rows,
            self.dead_lettered,
            self.processing_errors,
            self.peak_rss_bytes as f64 / 1e6,
        )
    }
}

/// Runs `brook bench e2e`.
pub async fn run(args: E2eArgs) -> anyhow::Result<()> {
    if args.events == 0 || args.partitions < 1 || args.events_per_second == 0 || args.auctions == 0 {
        bail!("--events, --events-per-second, --auctions and --partitions must be at least 1");
    }
    let json = args.json;
    let report =
        tokio::task::spawn_blocking(move || bench(&args)).await.context("the benchmark thread failed")??;
    if json {
        println!("{}", report.json());
    } else {
        println!("{}", report.text());
    }
    Ok(())
}

/// Writes the bids `args` ask for to `path` (through a temporary name, so a partial file never
/// exists).
fn generate(path: &Path, args: &E2eArgs) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut generator =
        BidGenerator::new(27).with_events_per_second(args.events_per_second).with_auctions(args.auctions);
    let mut text = String::with_capacity(64 << 10);
    for i in 0..args.events {
        generator.write_line(&mut text);
        if text.len() >= 60 << 10 || i + 1 == args.events {
            out.write_all(text.as_bytes())?;
            text.clear();
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

fn bench(args: &E2eArgs) -> anyhow::Result<Report> {
    if !args.input.exists() {
        eprintln!("generating {} bids into {}", args.events, args.input.display());
        generate(&args.input, args)?;
    }
    let input = std::fs::canonicalize(&args.input)?;
    let bytes = std::fs::metadata(&input)?.len();
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let (cluster, broker): (Arc<dyn Cluster>, Option<Broker>) = match &args.bootstrap_servers {
        Some(bootstrap) => {
            let cluster = KafkaCluster::connect_with(bootstrap, super::sql::SQL_CLIENT_ID, &[])?;
            if cluster.partitions("bids")?.is_some() {
                bail!("the cluster at {bootstrap} already has a topic 'bids'; run against a fresh server");
            }
            (Arc::new(cluster), None)
        }
        None => {
            let broker =
                Broker::open(BrokerConfig::new(dir.path())).context("opening the embedded broker")?;
            (Arc::new(EmbeddedCluster::new(broker.clone())), Some(broker))
        }
    };
    let engine = Engine::open(cluster.clone(), EngineConfig::runtime(dir.path()))?;
    let connectors = crate::connectors::install(&engine)?;
    let result = measure(args, &input, bytes, &engine, cluster.as_ref(), &connectors);
    engine.shutdown();
    connectors.shutdown();
    if let Some(b) = broker {
        b.close()?;
    }
    result
}

fn execute(engine: &Engine, session: &mut Session, sql: &str) -> anyhow::Result<Option<String>> {
    let mut query = None;
    for executed in engine.execute(sql, session) {
        match executed.result {
            Ok(StatementResult::Message { query_id, .. }) => query = query.or(query_id),
            Ok(_) => {}
            Err(e) => bail!("{e}\n  in: {}", executed.statement),
        }
    }
    Ok(query)
}

/// The sum of the end offsets of `topic`'s partitions (0 while it does not exist).
fn end_offsets(cluster: &dyn Cluster, topic: &str) -> i64 {
    let Ok(Some(n)) = cluster.partitions(topic) else { return 0 };
    (0..n).filter_map(|p| cluster.offsets(topic, p).ok()).map(|(_, end)| end).sum()
}

fn measure(
    args: &E2eArgs,
    input: &Path,
    bytes: u64,
    engine: &Engine,
    cluster: &dyn Cluster,
    connectors: &ConnectorManager,
) -> anyhow::Result<Report> {
    let mut session = Session::default();
    session.properties.insert("auto.offset.reset".into(), "earliest".into());
    session.properties.insert("ksql.streams.num.stream.threads".into(), args.threads.to_string());
    execute(engine, &mut session, &STREAM.replace("{partitions}", &args.partitions.to_string()))?;
    let (query, output_topic) = match args.query.as_str() {
        "window" => (WINDOW_QUERY, "BIDS_PER_AUCTION"),
        _ => (FILTER_QUERY, "BIG_BIDS"),
    };
    let path = input.to_str().context("the input path must be UTF-8")?.replace('\'', "''");
    let connector = format!(
        "CREATE SOURCE CONNECTOR bids_file WITH ('connector'='file', 'path'='{path}', 'format'='json', \
         'topic'='bids', 'mode'='once');"
    );

    // How long the engine's `wait_idle` watches idle stream threads before it returns.
    const QUIET: Duration = Duration::from_millis(50);
    const LIMIT: Duration = Duration::from_secs(3600);
    reset_peak_rss();
    let (start, cpu_start) = (Instant::now(), process_cpu());
    let done = std::sync::atomic::AtomicBool::new(false);
    let (finished, output) = std::thread::scope(|scope| {
        // Watches the output topic: when did it last grow?
        let watcher = scope.spawn(|| {
            let (mut end, mut changed) = (0, start);
            loop {
                let last_pass = done.load(std::sync::atomic::Ordering::Acquire);
                let now = end_offsets(cluster, output_topic);
                if now != end {
                    (end, changed) = (now, Instant::now());
                }
                if last_pass {
                    return (end, changed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let finished = run_to_completion(engine, &mut session, query, &connector, connectors, start, LIMIT);
        done.store(true, std::sync::atomic::Ordering::Release);
        (finished, watcher.join())
    });
    let (source, connector_s, done_s) = finished?;
    let wall = (done_s - QUIET.as_secs_f64()).max(connector_s);
    let cpu = process_cpu().saturating_sub(cpu_start).as_secs_f64();
    let peak = peak_rss();
    let Ok((output_end, output_changed)) = output else { bail!("the output watcher failed") };
    let output_complete_s = output_changed.duration_since(start).as_secs_f64();
    let errors = engine.take_errors();
    if let Some((query, reason)) = errors.first() {
        eprintln!("{} processing errors; the first, in {query}: {reason}", errors.len());
    }
    let (rows, records) = output_rows(cluster, output_topic, args.query == "window")?;
    if records != output_end {
        bail!("the output topic holds {output_end} records but {records} were read");
    }
    if let Some(path) = &args.output {
        write_csv(path, args.query == "window", &rows)?;
    }
    Ok(Report {
        query: args.query.clone(),
        lines: source.metrics.records_in,
        bytes,
        wall_s: wall,
        cpu_s: cpu,
        connector_s,
        output_complete_s,
        output_rows: rows.len() as u64,
        dead_lettered: source.metrics.dlq,
        processing_errors: errors.len(),
        peak_rss_bytes: peak,
    })
}

/// Starts the query and the connector, waits until the connector has finished and then until
/// the query is idle; returns the connector's status, when it finished and when the query was
/// found idle (seconds after `start`).
fn run_to_completion(
    engine: &Engine,
    session: &mut Session,
    query: &str,
    connector: &str,
    connectors: &ConnectorManager,
    start: Instant,
    limit: Duration,
) -> anyhow::Result<(brook_connect::ConnectorStatus, f64, f64)> {
    execute(engine, session, query)?.context("the query statement started no query")?;
    execute(engine, session, connector)?;
    let source = loop {
        let status = connectors.list().into_iter().find(|c| c.kind == ConnectorKind::Source);
        match status {
            Some(s) if s.state == ConnectorState::Finished => break s,
            Some(s) if matches!(s.state, ConnectorState::Failed(_)) => {
                bail!("the connector failed: {}", s.state)
            }
            _ => {}
        }
        if start.elapsed() > limit {
            bail!("the connector did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let connector_s = start.elapsed().as_secs_f64();
    if !engine.wait_idle(limit) {
        bail!("the query did not finish within {limit:?}: {:?}", engine.take_errors().first());
    }
    Ok((source, connector_s, start.elapsed().as_secs_f64()))
}

/// The output topic's rows as column values: window — auction, window start (ms), bids, max
/// price; filter — auction, bidder, price, date_time. Also returns how many records were read.
fn output_rows(cluster: &dyn Cluster, topic: &str, windowed: bool) -> anyhow::Result<(Vec<[i64; 4]>, i64)> {
    let mut rows = Vec::new();
    let mut records_read = 0;
    let mut bad: Option<anyhow::Error> = None;
    for p in 0..cluster.partitions(topic)?.unwrap_or(0) {
        cluster.scan(topic, p, 0, &mut |r| {
            records_read += 1;
            if bad.is_none()
                && let Err(e) = output_row(r, windowed, &mut rows)
            {
                bad = Some(e);
            }
        })?;
    }
    if let Some(e) = bad {
        return Err(e);
    }
    rows.sort_unstable();
    Ok((rows, records_read))
}

/// Appends the row of one output record (none for a tombstone).
fn output_row(r: &brook_broker::Record, windowed: bool, rows: &mut Vec<[i64; 4]>) -> anyhow::Result<()> {
    let value: Value = match &r.value {
        Some(v) => serde_json::from_slice(v).context("an output value is not JSON")?,
        None => return Ok(()),
    };
    let field = |name: &str| value.get(name).and_then(Value::as_i64).unwrap_or(i64::MIN);
    if windowed {
        let key = r.key.as_deref().unwrap_or_default();
        let (auction, start, _) = brook_streams::windowed_key::split(key, Some(WINDOW_MS))
            .context("an output key is not a windowed key")?;
        rows.push([key_number(auction)?, start, field("BIDS"), field("MAX_PRICE")]);
    } else {
        rows.push([field("AUCTION"), field("BIDDER"), field("PRICE"), field("DATE_TIME")]);
    }
    Ok(())
}

/// A BIGINT key: 8 bytes big-endian (KAFKA format) or JSON text.
fn key_number(key: &[u8]) -> anyhow::Result<i64> {
    if let Ok(b) = <[u8; 8]>::try_from(key) {
        return Ok(i64::from_be_bytes(b));
    }
    let text = std::str::from_utf8(key).context("an output key is not text")?;
    text.trim().parse().with_context(|| format!("an output key is not a number: {text}"))
}

fn write_csv(path: &Path, windowed: bool, rows: &[[i64; 4]]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let header =
        if windowed { "auction,window_start,bids,max_price" } else { "auction,bidder,price,date_time" };
    writeln!(out, "{header}")?;
    for r in rows {
        writeln!(out, "{},{},{},{}", r[0], r[1], r[2], r[3])?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_input_is_complete_bid_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bids.json");
        let args = E2eArgs {
            input: path.clone(),
            events: 1234,
            events_per_second: 10_000,
            auctions: 10,
            query: "window".into(),
            partitions: 2,
            threads: 1,
            output: None,
            json: false,
            bootstrap_servers: None,
        };
        generate(&path, &args).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1234);
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v["date_time"].is_i64() && v["price"].is_i64());
            assert!((1000..1010).contains(&v["auction"].as_i64().unwrap()));
        }
        assert!(!dir.path().join("bids.partial").exists());
    }

    #[test]
    fn keys_are_numbers_in_either_key_format() {
        assert_eq!(key_number(&1042i64.to_be_bytes()).unwrap(), 1042);
        assert_eq!(key_number(b"1042").unwrap(), 1042);
        assert!(key_number(b"x").is_err());
    }
}
