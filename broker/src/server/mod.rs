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

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::group::{CoordinatorConfig, GroupCoordinator};

pub use handlers::SUPPORTED_APIS;

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
    /// the connection before anything is allocated for them.
    pub max_frame_bytes: usize,
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
            max_frame_bytes: 100 * 1024 * 1024,
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
        let advertised_port = config.advertised_port.unwrap_or(bound.port());
        Ok(KafkaServer {
            listener,
            shared: Arc::new(Shared { broker, coordinator, config, advertised_port }),
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
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let shared = self.shared.clone();
                        connections.spawn(connection::serve(stream, peer, shared));
                    }
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
