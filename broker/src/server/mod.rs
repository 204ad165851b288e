//! Brook's Kafka wire-protocol server: unmodified Kafka clients produce, consume in groups and
//! administer topics through it.
//!
//! ```text
//!  TcpListener ──accept──► connection task (one per client socket)
//!                            │ read loop: frame (size-capped) → decode header → handler
//!                            │      handlers run in request order; the synchronous part
//!                            │      (append, join registration, …) happens here, in order
//!                            ▼
//!                          reply queue (bounded): Now(bytes) | Later(future)
//!                            │ write loop: awaits each reply in order, writes the frame
//!                            ▼
//!                          socket
//! ```
//!
//! Requests on one connection may be pipelined: they are processed one after another, and their
//! responses leave strictly in request order. Replies that must wait — `acks=all` produce waiting
//! for the fsync, a long-polling fetch — are queued as futures, so the connection keeps reading
//! and several produce requests share one fsync (group commit) while order is preserved.
//!
//! A frame larger than [`ServerConfig::max_frame_bytes`], one that cannot be decoded (array
//! counts are checked against the frame before the codec allocates for them), or a
//! request for an API key or version the server does not implement closes that connection only.
//! `acks=0` produce requests get no response at all, as Kafka clients expect.
//!
//! Codecs come from the `kafka-protocol` crate; record batches are never re-encoded: they are
//! stored as the producer sent them (after offset assignment) and served back byte for byte.
//! Each Kafka API has its own file under [`handlers`]; the consumer-group state machine is in
//! [`crate::group::coordinator`].

mod connection;
mod decode_guard;
pub mod handlers;
mod loopback;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::group::{CoordinatorConfig, GroupCoordinator};

pub use handlers::SUPPORTED_APIS;
pub use loopback::LoopbackServer;

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_SOCKET_REQUEST_MAX_BYTES: usize = 100 * 1024 * 1024;
/// Default `max.connections` and `max.connections.per.ip`. Kafka leaves both unlimited; Brook
/// bounds them so memory stays bounded (each idle connection costs about 30 KiB) while a
/// single host (every test, a laptop) still gets plenty.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Kafka's default `connections.max.idle.ms` (10 minutes).
pub const DEFAULT_CONNECTIONS_MAX_IDLE_MS: u64 = 600_000;
/// Kafka's default `fetch.max.bytes` (55 MiB).
pub const DEFAULT_FETCH_MAX_BYTES: usize = 57_671_680;
/// The `client.id`s of Brook's own Kafka-protocol writers of `_brook_*` topics: `brook connect
/// run --bootstrap-servers` writes `_brook_connect_offsets` with its producer and creates it
/// with its admin client; a SQL engine on a remote cluster (`brook server|sql
/// --bootstrap-servers`) writes the command topic, the processing log, its connectors' topics
/// and its queries' internal topics.
pub const BROOK_INTERNAL_WRITERS: &[&str] =
    &["brook-connect", "brook-connect-admin", "brook-sql", "brook-sql-admin"];

/// How the Kafka protocol server listens and what it tells clients.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Host clients are told to connect to (Metadata, FindCoordinator). Use an IP address:
    /// `localhost` makes some clients try `::1` first.
    pub advertised_host: String,
    /// Port clients are told to connect to; `None` advertises the port actually bound.
    pub advertised_port: Option<u16>,
    /// Largest request frame accepted (Kafka's `socket.request.max.bytes`); larger frames close
    /// the connection before anything is allocated for them, and a frame's buffer grows only
    /// as its bytes arrive.
    pub max_frame_bytes: usize,
    /// Kafka's `max.connections`: open connections at most; at the limit the listener stops
    /// accepting (new clients wait in the kernel's backlog) until one closes.
    pub max_connections: usize,
    /// Kafka's `max.connections.per.ip`: connections from one address beyond this are closed
    /// as soon as they are accepted.
    pub max_connections_per_ip: usize,
    /// Kafka's `connections.max.idle.ms`: a connection with no request and no reply in flight
    /// for this long is closed (also a client that stops sending midway through a frame).
    pub connections_max_idle: Duration,
    /// Kafka's `fetch.max.bytes`: a Fetch response carries at most this many record bytes
    /// (a client's larger `max_bytes` is lowered to it; the first batch is still returned whole).
    pub fetch_max_bytes: usize,
    /// Client ids allowed to change `_brook_*` topics over the Kafka protocol: Brook's own
    /// components that run next to a server with `--bootstrap` (the connectors' producer and
    /// admin client). `__*` topics are never writable by clients.
    pub internal_topic_writers: Vec<String>,
    /// Responses queued per connection before the server stops reading from it. Deferred
    /// `acks=all` replies wait here for the fsync while later requests are appended, so this
    /// should cover the requests a client sends during one slow fsync.
    pub max_in_flight: usize,
    /// Cluster id reported in Metadata.
    pub cluster_id: String,
    /// Consumer-group limits and delays.
    pub coordinator: CoordinatorConfig,
}

impl ServerConfig {
    /// Defaults for listening on `listen`, advertising the same address (or `127.0.0.1` when
    /// listening on all interfaces).
    pub fn new(listen: SocketAddr) -> ServerConfig {
        let advertised_host =
            if listen.ip().is_unspecified() { "127.0.0.1".to_string() } else { listen.ip().to_string() };
        ServerConfig {
            listen,
            advertised_host,
            advertised_port: None,
            max_frame_bytes: DEFAULT_SOCKET_REQUEST_MAX_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS,
            connections_max_idle: Duration::from_millis(DEFAULT_CONNECTIONS_MAX_IDLE_MS),
            fetch_max_bytes: DEFAULT_FETCH_MAX_BYTES,
            internal_topic_writers: BROOK_INTERNAL_WRITERS.iter().map(|s| s.to_string()).collect(),
            max_in_flight: 1024,
            cluster_id: "brook-cluster".to_string(),
            coordinator: CoordinatorConfig::default(),
        }
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) broker: Broker,
    pub(crate) coordinator: Arc<GroupCoordinator>,
    pub(crate) config: ServerConfig,
    /// The port advertised to clients.
    pub(crate) advertised_port: u16,
    /// Open connections, for `max.connections` and `max.connections.per.ip`.
    pub(crate) connections: ConnectionCount,
}

/// Open connections in total and per client address.
#[derive(Default)]
pub(crate) struct ConnectionCount {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    /// Signalled when a connection closes (the listener may accept again).
    freed: Notify,
}

/// One counted connection; uncounts itself when dropped.
pub(crate) struct ConnectionSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let count = &self.shared.connections;
        let mut per_ip = count.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        count.total.fetch_sub(1, Ordering::AcqRel);
        count.freed.notify_one();
    }
}

impl ConnectionCount {
    /// Open connections now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Counts a new connection from `ip`, or `None` if that address is at its limit.
    fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<ConnectionSlot> {
        let count = &shared.connections;
        let mut per_ip = count.per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= shared.config.max_connections_per_ip {
            if *n == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *n += 1;
        count.total.fetch_add(1, Ordering::AcqRel);
        Some(ConnectionSlot { shared: shared.clone(), ip })
    }
}

/// A bound Kafka protocol server, not yet serving.
///
/// ```no_run
/// # async fn demo(broker: brook_broker::Broker) -> brook_broker::Result<()> {
/// use brook_broker::server::{KafkaServer, ServerConfig};
/// let server = KafkaServer::bind(broker, ServerConfig::new("127.0.0.1:0".parse().unwrap()))?;
/// println!("kafka listener on {}", server.local_addr());
/// let handle = server.spawn();
/// // … clients connect …
/// handle.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct KafkaServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KafkaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KafkaServer({})", self.local_addr())
    }
}

impl KafkaServer {
    /// Binds the listening socket. Must be called inside a Tokio runtime.
    pub fn bind(broker: Broker, config: ServerConfig) -> Result<KafkaServer> {
        let std_listener = std::net::TcpListener::bind(config.listen)
            .map_err(Error::io(format!("binding the Kafka listener to {}", config.listen)))?;
        std_listener.set_nonblocking(true).map_err(Error::io("configuring the Kafka listener"))?;
        let listener =
            TcpListener::from_std(std_listener).map_err(Error::io("registering the Kafka listener"))?;
        let bound = listener.local_addr().map_err(Error::io("reading the Kafka listener address"))?;
        let coordinator = Arc::new(GroupCoordinator::new(broker.clone(), config.coordinator.clone()));
        broker.attach_group_coordinator(Arc::downgrade(&coordinator));
        let advertised_port = config.advertised_port.unwrap_or(bound.port());
        Ok(KafkaServer {
            listener,
            shared: Arc::new(Shared {
                broker,
                coordinator,
                config,
                advertised_port,
                connections: ConnectionCount::default(),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has an address; fall back to the configured one.
        self.listener.local_addr().unwrap_or(self.shared.config.listen)
    }

    /// The group coordinator serving this server's consumer groups.
    pub fn coordinator(&self) -> Arc<GroupCoordinator> {
        self.shared.coordinator.clone()
    }

    /// Processes one request frame (without its size prefix) as a connection from 127.0.0.1
    /// would, without a socket: header, array-count guard, decoding, validation and the
    /// handler run exactly as for a client. `Err` is what would close a client's connection.
    /// A deferred reply (long-poll fetch, `acks=all`) is not awaited, but a handler that waits
    /// in line (JoinGroup and SyncGroup until the rebalance completes) waits here too, so
    /// callers bound the call with a timeout. For fuzzing the request path
    /// (`fuzz/fuzz_targets/kafka_request.rs`).
    pub async fn process_frame(&self, frame: bytes::Bytes) -> Result<()> {
        let conn = handlers::Connection { shared: self.shared.clone(), client_host: "127.0.0.1".to_string() };
        handlers::handle(&conn, frame).await.map(|_| ())
    }

    /// A probe of the open connection count, usable after the server is spawned.
    pub fn connection_gauge(&self) -> ConnectionGauge {
        ConnectionGauge(self.shared.clone())
    }
}

/// Reads how many connections a server has open (for tests and metrics).
#[derive(Clone)]
pub struct ConnectionGauge(Arc<Shared>);

impl std::fmt::Debug for ConnectionGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionGauge({})", self.open())
    }
}

impl ConnectionGauge {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.connections.total()
    }
}

impl KafkaServer {
    /// Serves connections until `shutdown` resolves, then closes every connection. The broker
    /// itself stays open (the caller closes it).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut connections = JoinSet::new();
        let coordinator = self.shared.coordinator.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                coordinator.tick();
            }
        });
        tokio::pin!(shutdown);
        let mut refused_per_ip = 0u64;
        loop {
            if self.shared.connections.total() >= self.shared.config.max_connections {
                // At max.connections: stop accepting (clients wait in the backlog) until one
                // closes, as Kafka's acceptor does.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = self.shared.connections.freed.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => match ConnectionCount::admit(&self.shared, peer.ip()) {
                        Some(slot) => {
                            connections.spawn(connection::serve(stream, peer, slot));
                        }
                        None => {
                            refused_per_ip += 1;
                            if refused_per_ip.is_power_of_two() {
                                tracing::warn!(%peer, refused = refused_per_ip,
                                    limit = self.shared.config.max_connections_per_ip,
                                    "closing a connection over max.connections.per.ip");
                            }
                            drop(stream);
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accepting a Kafka connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        ticker.abort();
        connections.shutdown().await;
        Ok(())
    }

    /// Runs the server on a background task.
    pub fn spawn(self) -> ServerHandle {
        let addr = self.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = rx.await;
        }));
        ServerHandle { addr, shutdown: Some(tx), task }
    }
}

/// A server running on a background task.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and waits for the server task to finish.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(Error::Io {
                context: "the Kafka server task failed".to_string(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}
