//! `brook server`: opens the broker on a data directory, serves the Kafka protocol on
//! `--listen` and the SQL engine's HTTP API on `--http`, runs the connectors created with
//! `CREATE SOURCE|SINK CONNECTOR` (restarting the stored ones), and runs until SIGINT/SIGTERM,
//! then stops connectors, closes every connection and the broker cleanly.
//!
//! With `--bootstrap-servers HOST:PORT[,…]` there is no embedded broker and no Kafka listener:
//! the SQL engine, its HTTP API and the connectors run against that cluster (another `brook
//! server`, Apache Kafka, Redpanda). The catalog lives in the cluster's command topic, so
//! several servers pointed at one cluster share streams, tables and queries, as the servers
//! of one ksqlDB service do; each runs its share of every persistent query's partitions
//! through the query's consumer group.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use brook_broker::server::{self, KafkaServer, ServerConfig};
use brook_broker::{Broker, BrokerConfig};
use brook_client::{Cluster, EmbeddedCluster, KafkaCluster};
use clap::Args;

/// Options of `brook server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Directory for topics, offsets and metadata (with --bootstrap-servers: only the
    /// queries' local state).
    #[arg(long, default_value = "./brook-data")]
    pub data_dir: PathBuf,
    /// Run the SQL engine, HTTP API and connectors against the Kafka cluster at
    /// HOST:PORT[,HOST:PORT…] (Kafka's `bootstrap.servers`) instead of an embedded broker; the
    /// broker options below are then unused.
    #[arg(long, alias = "bootstrap", value_name = "HOST:PORT")]
    pub bootstrap_servers: Option<String>,
    /// ksqlDB's `ksql.service.id`: SQL engines with the same id on one cluster share streams,
    /// tables and queries; engines with different ids do not see each other (default: Brook's
    /// default service, command topic `_brook_commands`).
    #[arg(long, alias = "ksql-service-id", value_name = "ID")]
    pub service_id: Option<String>,
    /// Kafka Streams' `processing.guarantee` of persistent queries whose session does not set
    /// it (`SET 'processing.guarantee'='exactly_once_v2';`): at_least_once or exactly_once_v2.
    /// Exactly-once needs `--bootstrap-servers` (queries then commit through Kafka transactions).
    #[arg(long, default_value = "at_least_once", value_name = "GUARANTEE")]
    pub processing_guarantee: brook_streams::ProcessingGuarantee,
    /// ksqlDB's `ksql.fail.on.production.error` for queries whose session does not set it: an
    /// output record the cluster refuses (over the topic's `max.message.bytes`) fails the
    /// query (`true`) or is skipped and logged to the processing log (`false`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    pub ksql_fail_on_production_error: bool,
    /// Rows a push query or PRINT buffers for an HTTP client that reads slower than the query
    /// produces; when full, the query waits for the client instead of buffering more.
    #[arg(long, default_value_t = brook_sql::engine::DEFAULT_PUSH_QUERY_BUFFER_ROWS)]
    pub push_query_buffer_rows: usize,
    /// ksqlDB's `ksql.logging.processing.topic.name`: the processing log's topic (default:
    /// `brook_processing_log`, or `<service id>_processing_log` with `--service-id`).
    #[arg(long, value_name = "TOPIC")]
    pub ksql_logging_processing_topic_name: Option<String>,
    /// Partitions given to topics created automatically.
    #[arg(long, default_value_t = 1)]
    pub default_partitions: i32,
    /// Kafka's `auto.create.topics.enable`: whether a Metadata request for an unknown topic
    /// creates it (with `--default-partitions`). Internal names (`__*`, `_brook_*`) are never
    /// created this way.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    pub auto_create_topics_enable: bool,
    /// Same as `--auto-create-topics-enable false`.
    #[arg(long)]
    pub no_auto_create_topics: bool,
    /// Kafka's `message.max.bytes`: the largest record batch a producer may send, checked as
    /// sent and, for a compressed batch, while it is decompressed (a topic's
    /// `max.message.bytes` overrides it).
    #[arg(long, default_value_t = brook_broker::broker::DEFAULT_MESSAGE_MAX_BYTES)]
    pub message_max_bytes: usize,
    /// Fsync data nobody waits for at least this often, in ms (acks=all always waits).
    #[arg(long, default_value_t = 1000)]
    pub flush_interval_ms: u64,
    /// How often retention and compaction run, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub cleaner_interval_ms: u64,
    /// Address of the Kafka protocol listener (port 0 picks a free port; the bound address is
    /// printed on stderr as `kafka listener on HOST:PORT`).
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    pub listen: SocketAddr,
    /// HOST:PORT clients are told to connect to (default: the bound listen address). Use an IP
    /// address or a name clients resolve to this machine.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,
    /// Kafka's `socket.request.max.bytes`: the largest request accepted, in bytes; a larger
    /// size field closes the connection before anything is allocated for it.
    #[arg(long, alias = "max-frame-bytes", default_value_t = server::DEFAULT_SOCKET_REQUEST_MAX_BYTES)]
    pub socket_request_max_bytes: usize,
    /// Kafka's `max.connections`: open client connections at most (further clients wait).
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Kafka's `max.connections.per.ip`: connections from one address at most (further ones
    /// are closed at once).
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections_per_ip: usize,
    /// Kafka's `connections.max.idle.ms`: a connection with no request for this long is closed.
    #[arg(long, default_value_t = server::DEFAULT_CONNECTIONS_MAX_IDLE_MS)]
    pub connections_max_idle_ms: u64,
    /// Kafka's `fetch.max.bytes`: the most record bytes one Fetch response carries (the first
    /// batch is returned whole even if larger, so consumers always progress).
    #[arg(long, default_value_t = server::DEFAULT_FETCH_MAX_BYTES)]
    pub fetch_max_bytes: usize,
    /// Address of the SQL engine's HTTP API (ksqlDB-style: /ksql, /query-stream, /info, …);
    /// default 127.0.0.1:8088. Port 0 picks a free port; the bound address is printed on
    /// stderr as `http listener on HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<SocketAddr>,
    /// Start no connectors here: neither the stored ones nor new ones (`CREATE … CONNECTOR`
    /// fails). With several servers on one cluster, every server starts the stored connectors;
    /// run them on one.
    #[arg(long)]
    pub no_connectors: bool,
    /// Run without the SQL engine and its HTTP API.
    #[arg(long, conflicts_with = "http")]
    pub no_http: bool,
    /// Nesting-depth limits of the SQL engine.
    #[command(flatten)]
    pub nesting: super::sql::NestingArgs,
}

/// Splits `HOST:PORT` (IPv6 hosts in brackets).
pub fn parse_host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = s.rsplit_once(':').with_context(|| format!("expected HOST:PORT, got '{s}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("expected HOST:PORT, got '{s}' (the host is empty)");
    }
    let port = port.parse::<u16>().with_context(|| format!("'{port}' in '{s}' is not a port number"))?;
    Ok((host.to_string(), port))
}

/// Runs the server until a shutdown signal arrives, then closes the broker cleanly.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(bootstrap) = args.bootstrap_servers.clone() {
        return run_on_cluster(&bootstrap, args).await;
    }
    let mut config = BrokerConfig::new(&args.data_dir);
    config.default_partitions = args.default_partitions;
    config.auto_create_topics = args.auto_create_topics_enable && !args.no_auto_create_topics;
    config.message_max_bytes = args.message_max_bytes;
    config.flush_interval = Some(Duration::from_millis(args.flush_interval_ms.max(1)));
    config.cleaner_interval = Duration::from_millis(args.cleaner_interval_ms.max(10));
    let broker = Broker::open(config).with_context(|| format!("opening {}", args.data_dir.display()))?;
    let mut server_config = ServerConfig::new(args.listen);
    server_config.max_frame_bytes = args.socket_request_max_bytes;
    server_config.max_connections = args.max_connections.max(1);
    server_config.max_connections_per_ip = args.max_connections_per_ip.max(1);
    server_config.connections_max_idle = Duration::from_millis(args.connections_max_idle_ms.max(1));
    server_config.fetch_max_bytes = args.fetch_max_bytes.max(1);
    if let Some(adv) = &args.advertised_listener {
        let (host, port) = parse_host_port(adv)?;
        server_config.advertised_host = host;
        server_config.advertised_port = Some(port);
    }
    let server = match KafkaServer::bind(broker.clone(), server_config) {
        Ok(s) => s,
        Err(e) => {
            let _ = broker.close();
            return Err(e).context("starting the Kafka listener");
        }
    };
    let addr = server.local_addr();
    let cluster: Arc<dyn Cluster> = Arc::new(EmbeddedCluster::new(broker.clone()));
    let (connectors, sql) = match start_services(cluster, &args).await {
        Ok(started) => started,
        Err(e) => {
            let _ = broker.close();
            return Err(e);
        }
    };
    tracing::info!(data_dir = %args.data_dir.display(), %addr, "brook server started");
    eprintln!("brook server running on {} (Ctrl-C to stop)", args.data_dir.display());
    eprintln!("kafka listener on {addr}");
    if let Some((_, _, http_addr)) = &sql {
        eprintln!("http listener on {http_addr}");
    }
    let served = server
        .run(async {
            if let Err(e) = wait_for_shutdown().await {
                tracing::warn!(error = %e, "cannot install signal handlers; stopping");
            }
        })
        .await;
    eprintln!("shutting down");
    stop_services(connectors, sql).await;
    let closed = broker.close().context("closing the broker");
    served.context("serving the Kafka protocol")?;
    closed
}

/// Runs the SQL engine, HTTP API and connectors against the cluster at `bootstrap` until a
/// shutdown signal arrives.
async fn run_on_cluster(bootstrap: &str, args: ServerArgs) -> anyhow::Result<()> {
    let b = bootstrap.to_string();
    let cluster =
        tokio::task::spawn_blocking(move || KafkaCluster::connect_with(&b, super::sql::SQL_CLIENT_ID, &[]))
            .await
            .context("connecting to the cluster")??;
    let (connectors, sql) = start_services(Arc::new(cluster), &args).await?;
    tracing::info!(bootstrap, "brook server started");
    eprintln!("brook server running against the cluster at {bootstrap} (Ctrl-C to stop)");
    if let Some((_, _, http_addr)) = &sql {
        eprintln!("http listener on {http_addr}");
    }
    let waited = wait_for_shutdown().await;
    eprintln!("shutting down");
    stop_services(connectors, sql).await;
    waited
}

/// The SQL engine with its HTTP API.
type Sql = Option<(Arc<brook_sql::Engine>, HttpHandle, SocketAddr)>;

/// Starts the stored connectors and (unless `--no-http`) the SQL engine with its HTTP API on
/// `cluster`; the engine runs connector statements on those connectors.
async fn start_services(
    cluster: Arc<dyn Cluster>,
    args: &ServerArgs,
) -> anyhow::Result<(Option<Arc<brook_connect::ConnectorManager>>, Sql)> {
    // Connectors stored by `CREATE … CONNECTOR` run whether or not SQL is served.
    let connectors = if args.no_connectors {
        None
    } else {
        let c = cluster.clone();
        let manager = tokio::task::spawn_blocking(move || brook_connect::ConnectorManager::open(c))
            .await
            .context("starting the stored connectors")?
            .context("starting the stored connectors")?;
        Some(Arc::new(manager))
    };
    let sql = if args.no_http {
        None
    } else {
        match start_sql(cluster, args).await {
            Ok(sql) => sql,
            Err(e) => {
                if let Some(c) = connectors {
                    tokio::task::spawn_blocking(move || c.shutdown()).await.ok();
                }
                return Err(e);
            }
        }
    };
    if let (Some((engine, _, _)), Some(c)) = (&sql, &connectors) {
        engine.set_connector_host(Arc::new(crate::connectors::ManagerHost(c.clone())));
    }
    Ok((connectors, sql))
}

/// Stops the HTTP API, the engine's queries and the connectors (each commits its position).
async fn stop_services(connectors: Option<Arc<brook_connect::ConnectorManager>>, sql: Sql) {
    if let Some((engine, http, _)) = sql {
        http.stop().await;
        tokio::task::spawn_blocking(move || engine.shutdown()).await.ok();
    }
    if let Some(c) = connectors {
        tokio::task::spawn_blocking(move || c.shutdown()).await.ok();
    }
}

/// The running HTTP API.
struct HttpHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HttpHandle {
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "HTTP API stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "HTTP API task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// Opens the SQL engine (replaying its command topic, restarting persistent queries) and
/// serves its HTTP API. Without an explicit `--http`, a busy default port only disables
/// the API (with a warning), so several servers can run side by side.
async fn start_sql(cluster: Arc<dyn Cluster>, args: &ServerArgs) -> anyhow::Result<Sql> {
    let requested = args.http.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8088)));
    let listener = match tokio::net::TcpListener::bind(requested).await {
        Ok(l) => l,
        Err(e) if args.http.is_none() => {
            eprintln!("warning: HTTP API disabled: cannot listen on {requested}: {e} (use --http HOST:PORT)");
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("starting the HTTP API on {requested}")),
    };
    let http_addr = listener.local_addr().context("reading the HTTP listener address")?;
    args.nesting.install();
    let mut config = brook_sql::EngineConfig::runtime(&args.data_dir);
    config.service_id = args.service_id.clone();
    config.processing_guarantee = args.processing_guarantee;
    config.fail_on_production_error = args.ksql_fail_on_production_error;
    config.push_query_buffer_rows = args.push_query_buffer_rows;
    config.processing_log_topic = args.ksql_logging_processing_topic_name.clone();
    let engine = tokio::task::spawn_blocking(move || brook_sql::Engine::open(cluster, config))
        .await
        .context("starting the SQL engine")?
        .context("starting the SQL engine")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::http::serve(listener, engine.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(Some((engine, HttpHandle { stop, task }, http_addr)))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_shutdown() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
