//! `brook sql`: the SQL shell. With no flags it opens the data directory (`./brook-data`)
//! with an embedded broker, SQL engine and connectors — everything in one process, nothing
//! else to start (connectors created here run while the shell runs, and again the next time
//! the directory is opened by the shell or a server).
//! With `--bootstrap-servers HOST:PORT` the engine runs in this process against that Kafka
//! cluster (a `brook server`, Apache Kafka, Redpanda) instead: the catalog lives in the
//! cluster's command topic, shared with every server and shell pointed at it, and `--data-dir`
//! holds only the queries' local state.
//! With `--server http://HOST:PORT` it talks to a running `brook server` over its HTTP API.
//! `-f FILE` / `-e 'STATEMENTS'` run statements and exit (non-zero on the first error). In a
//! script on the embedded engine, each pull query first waits until the source connectors
//! have read their files to the end and the persistent queries have processed everything
//! (see [`settle`]), so a script that ingests, transforms and then reads gives the same
//! answer every time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brook_broker::{Broker, BrokerConfig};
use brook_client::{Cluster, EmbeddedCluster, KafkaCluster};
use brook_connect::{ConnectorKind, ConnectorManager, ConnectorState};
use brook_sql::{Engine, EngineConfig, limits};
use clap::{Args, ValueEnum};

use crate::shell::Shell;
use crate::shell::backend::{Backend, Embedded, Remote};
use crate::shell::render::Format;

/// Output formats of the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Boxed tables.
    Table,
    /// JSON.
    Json,
}

/// The SQL engine's nesting-depth limits ([`brook_sql::limits`]), shared by `brook sql` and
/// `brook server`.
#[derive(Debug, Clone, Copy, Args)]
pub struct NestingArgs {
    /// How deeply arrays and objects may nest in a JSON record value or Debezium change event;
    /// a deeper record is skipped and written to the processing log.
    #[arg(long, default_value_t = limits::DEFAULT_JSON_MAX_NESTING_DEPTH, value_name = "LEVELS")]
    pub json_max_nesting_depth: usize,
    /// How deeply ARRAY, MAP and STRUCT may nest in a column type or CAST (a deeper type is a
    /// statement error).
    #[arg(long, default_value_t = limits::DEFAULT_TYPE_MAX_NESTING_DEPTH, value_name = "LEVELS")]
    pub type_max_nesting_depth: usize,
    /// How deeply an expression may nest, e.g. the length of a chain `a + b + …` (a deeper
    /// expression is a statement error).
    #[arg(long, default_value_t = limits::DEFAULT_EXPRESSION_MAX_NESTING_DEPTH, value_name = "LEVELS")]
    pub expression_max_nesting_depth: usize,
}

impl NestingArgs {
    /// Makes these the limits of this process.
    pub fn install(self) {
        limits::NestingLimits {
            json: self.json_max_nesting_depth,
            types: self.type_max_nesting_depth,
            expressions: self.expression_max_nesting_depth,
        }
        .install();
    }
}

/// Options of `brook sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Data directory of the embedded broker and engine (ignored with --server; with
    /// --bootstrap-servers, only the queries' local state lives here).
    #[arg(long, default_value = "./brook-data")]
    pub data_dir: PathBuf,
    /// Use a running `brook server` through its HTTP API, e.g. http://127.0.0.1:8088.
    #[arg(long, value_name = "URL", conflicts_with = "bootstrap_servers")]
    pub server: Option<String>,
    /// Run the engine here against the Kafka cluster at HOST:PORT[,HOST:PORT…] (a `brook
    /// server`, Apache Kafka, Redpanda) instead of an embedded broker (Kafka's
    /// `bootstrap.servers`).
    #[arg(long, alias = "bootstrap", value_name = "HOST:PORT")]
    pub bootstrap_servers: Option<String>,
    /// ksqlDB's `ksql.service.id`: SQL engines with the same id on one cluster share streams,
    /// tables and queries; engines with different ids do not see each other (default: Brook's
    /// default service, command topic `_brook_commands`).
    #[arg(long, alias = "ksql-service-id", value_name = "ID")]
    pub service_id: Option<String>,
    /// Run the statements in this file and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run these statements and exit.
    #[arg(short = 'e', long = "execute", value_name = "STATEMENTS")]
    pub execute: Option<String>,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Nesting-depth limits of the engine run here.
    #[command(flatten)]
    pub nesting: NestingArgs,
}

/// Runs the shell (or a script).
pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let mut local: Option<(Arc<Engine>, Option<Broker>, Arc<brook_connect::ConnectorManager>)> = None;
    let (backend, banner): (Box<dyn Backend>, String) = match &args.server {
        Some(url) => {
            let remote = Remote::new(url)?;
            let info = remote.check()?;
            let version = info.pointer("/KsqlServerInfo/version").and_then(|v| v.as_str()).unwrap_or("?");
            (Box::new(remote), format!("Brook SQL shell — connected to {url} (server version {version})"))
        }
        None => {
            let (cluster, broker, place): (Arc<dyn Cluster>, Option<Broker>, String) =
                match &args.bootstrap_servers {
                    Some(bootstrap) => {
                        let b = bootstrap.clone();
                        let cluster = tokio::task::spawn_blocking(move || {
                            KafkaCluster::connect_with(&b, SQL_CLIENT_ID, &[])
                        })
                        .await
                        .context("connecting to the cluster")??;
                        (Arc::new(cluster), None, format!("the cluster at {bootstrap}"))
                    }
                    None => {
                        let broker = Broker::open(BrokerConfig::new(&args.data_dir)).with_context(|| {
                            format!(
                                "opening {} (is a brook server using it? then use --server)",
                                args.data_dir.display()
                            )
                        })?;
                        let cluster = Arc::new(EmbeddedCluster::new(broker.clone()));
                        (cluster, Some(broker), args.data_dir.display().to_string())
                    }
                };
            let close = |broker: &Option<Broker>| {
                if let Some(b) = broker {
                    let _ = b.close();
                }
            };
            args.nesting.install();
            let mut config = EngineConfig::runtime(&args.data_dir);
            config.service_id = args.service_id.clone();
            let engine = match Engine::open(cluster, config) {
                Ok(e) => e,
                Err(e) => {
                    close(&broker);
                    return Err(e).context("starting the SQL engine");
                }
            };
            let connectors = match crate::connectors::install(&engine) {
                Ok(m) => m,
                Err(e) => {
                    engine.shutdown();
                    close(&broker);
                    return Err(e);
                }
            };
            let mut embedded = Embedded::new(engine.clone());
            if args.file.is_some() || args.execute.is_some() {
                let (engine, connectors) = (engine.clone(), connectors.clone());
                embedded = embedded.settle_before_pulls(Arc::new(move || {
                    settle(&engine, &connectors, SETTLE_TIMEOUT);
                }));
            }
            local = Some((engine, broker, connectors));
            (Box::new(embedded), format!("Brook SQL shell — embedded engine on {place}"))
        }
    };
    let format = match args.output {
        Output::Table => Format::Table,
        Output::Json => Format::Json,
    };
    let mut shell = Shell::new(backend, format);
    let interactive = args.file.is_none() && args.execute.is_none();

    // Ctrl-C cancels the running query; with no query running, a script stops.
    let active = shell.active_query();
    let signals = tokio::spawn(async move {
        let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) else {
            return;
        };
        while sig.recv().await.is_some() {
            let cancel = active.lock().clone();
            match cancel {
                Some(c) => {
                    let _ = tokio::task::spawn_blocking(move || c()).await;
                }
                None if !interactive => std::process::exit(130),
                None => {}
            }
        }
    });

    let script = match (&args.file, &args.execute) {
        (Some(f), _) => Some(std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?),
        (None, Some(e)) => Some(e.clone()),
        _ => None,
    };
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        match script {
            Some(s) => Ok(shell.run_script(&s)),
            None => shell.run_interactive(&banner).map(|()| true),
        }
    })
    .await
    .context("the shell thread failed")?;
    signals.abort();
    if let Some((engine, broker, connectors)) = local {
        tokio::task::spawn_blocking(move || {
            engine.shutdown();
            connectors.shutdown();
            broker.map_or(Ok(()), |b| b.close())
        })
        .await
        .context("closing the engine")?
        .context("closing the data directory")?;
    }
    match outcome? {
        true => Ok(()),
        false => anyhow::bail!("a statement failed"),
    }
}

/// The `client.id` of the SQL engine's clients on a remote cluster; a Brook server lets it
/// write the engine's internal topics (`_brook_*`).
pub const SQL_CLIENT_ID: &str = "brook-sql";

/// How long a script's pull query waits for connectors and queries to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits (up to `timeout`) until every running source connector has read all its files to
/// the end and its counters have stopped moving (so what it read has been appended), then
/// until every persistent query is idle. Returns whether everything settled; a connector
/// with nothing to read, or a query that never settles, only costs the timeout.
pub fn settle(engine: &Engine, connectors: &ConnectorManager, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    // Per running source: (records in, records out or dead-lettered, bytes in).
    type Counters = Vec<(u64, u64, u64)>;
    let snapshot = || -> Option<Counters> {
        let mut all = Vec::new();
        for c in connectors.list() {
            if c.kind != ConnectorKind::Source
                || !matches!(
                    c.state,
                    ConnectorState::Running | ConnectorState::Starting | ConnectorState::Degraded(_)
                )
            {
                continue;
            }
            let m = c.metrics;
            if m.files_seen == 0 || m.files_done < m.files_seen || c.state == ConnectorState::Starting {
                return None;
            }
            all.push((m.records_in, m.records_out + m.dlq, m.bytes_in));
        }
        Some(all)
    };
    // Caught up, and unchanged for a few polls: the source loop appends what it read on its
    // next pass, right after it finds nothing new.
    let mut stable: Option<(Instant, Counters)> = None;
    loop {
        if Instant::now() >= deadline {
            return false;
        }
        match (snapshot(), &stable) {
            (Some(now), Some((since, before))) if now == *before => {
                if since.elapsed() >= Duration::from_millis(150) {
                    break;
                }
            }
            (Some(now), _) => stable = Some((Instant::now(), now)),
            (None, _) => stable = None,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A query's output may feed another query: settle until one pass finds all idle at once.
    for _ in 0..3 {
        let left = deadline.saturating_duration_since(Instant::now());
        if !engine.wait_idle(left) {
            return false;
        }
    }
    true
}
