//! Brook SQL next to the Rust DSL: the same pipelines over the same JSON input, run side by
//! side in one process by the same streams runtime on an embedded broker with RocksDB state.
//!
//! The input is loaded into a 2-partition topic first; each application is then timed from
//! start until it has processed everything and written its output topic. The SQL pipelines are
//! compiled by the engine ([`brook_sql::Engine::query_topology`]) and run by `KafkaStreams`
//! exactly like the DSL topologies, so the difference is the query layer alone (Arrow batches
//! and DataFusion expressions against typed closures and serde).
//!
//! * `filter`: `SELECT user_id, UCASE(page), pad FROM events WHERE page <> 'page-3'` — the DSL
//!   decodes each value with serde into a struct, filters, maps and encodes it again.
//! * `window`: a 10-second tumbling-window count per user (1,000 users) over 2 M JSON events,
//!   emitted on every update — the bar the project measures itself against (PyFlink and
//!   DuckDB figures in BENCHMARKS.md) — re-keyed through a repartition topic, and again over
//!   a source keyed by user (no repartition).
//!
//! * `remote`: the SQL `window` pipeline twice, side by side: on the embedded broker, and over
//!   the Kafka protocol (librdkafka consumer group and producer, TCP on 127.0.0.1) to a Brook
//!   server on the same broker — what a query on `brook server --bootstrap-servers` runs. The
//!   server runs in this process, so both figures include the broker's work.
//!
//! `cargo bench --workspace --bench pipelines [-- filter|window|remote]`;
//! `BROOK_BENCH_SCALE=0.1` shrinks the inputs for a smoke run.

use std::time::{Duration, Instant};

// The same allocator as the `brook` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_sql::engine::StatementResult;
use brook_sql::{Engine, EngineConfig, Session};
use brook_streams::dsl::{StreamsBuilder, TimeWindows};
use brook_streams::serde::serdes;
use brook_streams::{Connection, KafkaStreams, StreamsConfig, Topology};
use serde::{Deserialize, Serialize};

/// CPU ticks (10 ms) of the whole process.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    [11, 12].iter().filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok())).sum()
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("BROOK_BENCH_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    ((n as f64 * s) as usize).max(1000)
}

fn broker(dir: &std::path::Path) -> Broker {
    let mut c = BrokerConfig::new(dir);
    c.flush_interval = Some(Duration::from_secs(5));
    Broker::open(c).unwrap()
}

/// One input event.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Event {
    user_id: i64,
    page: String,
    pad: String,
    ts: i64,
}

/// The DSL filter's output value.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Out {
    user_id: i64,
    page: String,
    pad: String,
}

brook_streams::json_data!(Event, Out);

fn load(broker: &Broker, topic: &str, n: usize, f: impl Fn(usize) -> Event) {
    broker.create_topic(topic, 2, TopicConfig::default()).unwrap();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let e = f(i);
        let value = serde_json::to_string(&e).unwrap();
        batch.push(NewRecord::new(Some(e.user_id.to_string()), Some(value)).with_timestamp(e.ts));
        if batch.len() == 10_000 {
            broker.produce(topic, None, std::mem::take(&mut batch)).unwrap();
        }
    }
    if !batch.is_empty() {
        broker.produce(topic, None, batch).unwrap();
    }
}

/// Runs `topology` until idle; prints and returns (records/s, records/s per core).
fn run(name: &str, broker: &Broker, topology: Topology, records: usize) -> (f64, f64) {
    run_on(name, Connection::Embedded(broker.clone()), topology, records)
}

/// Like [`run`], reaching the topics through `connection`.
fn run_on(name: &str, connection: Connection, topology: Topology, records: usize) -> (f64, f64) {
    let state = tempfile::tempdir().unwrap();
    let mut config = StreamsConfig::new(name, connection, state.path());
    config.num_threads = 2;
    config.commit_interval = Duration::from_secs(5);
    let cpu0 = cpu_ticks();
    let start = Instant::now();
    let mut app = KafkaStreams::start(topology, config).unwrap();
    let quiet = Duration::from_millis(500);
    assert!(
        app.wait_until_idle(quiet, Duration::from_secs(3600)),
        "{name} did not finish: {:?}",
        app.failure()
    );
    let wall = start.elapsed().saturating_sub(quiet).as_secs_f64();
    let cpu = (cpu_ticks() - cpu0) as f64 / 100.0;
    app.stop().unwrap();
    let m = app.metrics();
    assert_eq!(m.records_skipped, 0, "{name}: records were skipped: {:?}", app.take_errors().first());
    let (rate, per_core) = (records as f64 / wall, records as f64 / cpu.max(0.01));
    println!(
        "{name:<14} {records:>9} records  {wall:>6.2} s wall  {cpu:>6.2} s cpu  {rate:>10.0} rec/s  {per_core:>10.0} rec/s/core  (in {} out {})",
        m.records_in, m.records_out
    );
    (rate, per_core)
}

/// Compiles the last persistent query `sql` creates, as the engine would run it.
fn sql_topology(broker: &Broker, sql: &str) -> Topology {
    let engine = Engine::open(
        std::sync::Arc::new(brook_client::EmbeddedCluster::new(broker.clone())),
        EngineConfig::deterministic(),
    )
    .unwrap();
    let mut id = None;
    for e in engine.execute(sql, &mut Session::default()) {
        if let StatementResult::Message { query_id: Some(q), .. } = e.result.unwrap() {
            id = Some(q);
        }
    }
    engine.query_topology(&id.expect("the SQL creates a query"), None).unwrap()
}

fn ratio(name: &str, sql: (f64, f64), dsl: (f64, f64)) {
    println!(
        "{name}: SQL / DSL = {:.2} (records/s), {:.2} (records/s per core)",
        sql.0 / dsl.0,
        sql.1 / dsl.1
    );
}

fn filter() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(5_000_000);
    load(&broker, "events", n, |i| Event {
        user_id: (i % 100_000) as i64,
        page: format!("page-{}", i % 7),
        pad: format!("{:>60}", i),
        ts: 1_700_000_000_000 + i as i64,
    });
    let sql = sql_topology(
        &broker,
        "CREATE STREAM events (user_id BIGINT, page STRING, pad STRING, ts BIGINT)
           WITH (KAFKA_TOPIC='events', VALUE_FORMAT='JSON');
         CREATE STREAM filtered AS SELECT user_id, UCASE(page) AS page, pad FROM events WHERE page <> 'page-3';",
    );
    let sql = run("sql-filter", &broker, sql, n);

    let b = StreamsBuilder::new();
    b.stream_with("events", serdes::string(), serdes::json::<Event>())
        .filter(|_, e| e.page != "page-3")
        .map_values(|e| Out { user_id: e.user_id, page: e.page.to_uppercase(), pad: e.pad })
        .to("filtered-dsl");
    let dsl = run("dsl-filter", &broker, b.build().unwrap(), n);
    ratio("filter", sql, dsl);
}

/// The window benchmark's input: 1,000 users; event time advances 1 ms per event (200
/// windows of 10 s).
fn load_clicks(broker: &Broker, n: usize) {
    load(broker, "clicks", n, |i| Event {
        user_id: (i % 1000) as i64,
        page: format!("page-{}", i % 7),
        pad: String::new(),
        ts: 1_700_000_000_000 + i as i64,
    });
}

/// The SQL window query over `clicks`, writing `sink`.
fn sql_window(broker: &Broker, sink: &str) -> Topology {
    sql_topology(
        broker,
        &format!(
            "CREATE STREAM IF NOT EXISTS clicks (user_id BIGINT, page STRING, pad STRING, ts BIGINT)
               WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='ts');
             CREATE TABLE {sink} AS SELECT user_id, COUNT(*) AS n FROM clicks
               WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY user_id EMIT CHANGES;"
        ),
    )
}

fn window() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(2_000_000);
    load_clicks(&broker, n);
    let sql = run("sql-window", &broker, sql_window(&broker, "clicks_per_user"), n);

    // The same count over a source already keyed by user (the record key is the user id):
    // GROUP BY the key column needs no repartition topic.
    let keyed = sql_topology(
        &broker,
        "CREATE STREAM clicks_by_user (uid STRING KEY, page STRING, pad STRING, ts BIGINT)
           WITH (KAFKA_TOPIC='clicks', VALUE_FORMAT='JSON', TIMESTAMP='ts');
         CREATE TABLE clicks_per_uid AS SELECT uid, COUNT(*) AS n FROM clicks_by_user
           WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY uid EMIT CHANGES;",
    );
    run("sql-window-key", &broker, keyed, n);

    let b = StreamsBuilder::new();
    b.stream_with_timestamps("clicks", serdes::string(), serdes::json::<Event>(), |_, e, _| e.ts)
        .map(|_, e| (e.user_id, e.user_id))
        .group_by_key()
        .windowed_by(TimeWindows::of_size(10_000))
        .count()
        .to_stream()
        .to("clicks-per-user-dsl");
    let dsl = run("dsl-window", &broker, b.build().unwrap(), n);
    ratio("window", sql, dsl);
}

fn remote() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let n = scale(2_000_000);
    load_clicks(&broker, n);
    let server = brook_broker::server::LoopbackServer::start(broker.clone()).unwrap();
    let embedded = run("sql-window", &broker, sql_window(&broker, "per_user_embedded"), n);
    let kafka = Connection::Kafka { bootstrap: server.bootstrap(), properties: Vec::new() };
    let remote = run_on("sql-window-kafka", kafka, sql_window(&broker, "per_user_kafka"), n);
    println!(
        "remote: over the Kafka protocol / embedded = {:.2} (records/s), {:.2} (records/s per core)",
        remote.0 / embedded.0,
        remote.1 / embedded.1
    );
    server.shutdown().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run_it = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    if run_it("filter") {
        filter();
    }
    if run_it("window") {
        window();
    }
    if args.iter().any(|a| a == "remote") {
        remote();
    }
}
