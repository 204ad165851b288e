//! A Kafka-protocol listener for an in-process broker on `127.0.0.1:0`, on a Tokio runtime of
//! its own, for callers that are not async themselves: tests that reach a broker the way a
//! remote client would (librdkafka over TCP), tools and examples.

use std::net::SocketAddr;

use super::{KafkaServer, ServerConfig, ServerHandle};
use crate::Broker;
use crate::error::{Error, Result};

/// A running loopback listener; dropping it stops the listener (the broker stays open).
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    handle: Option<ServerHandle>,
    runtime: tokio::runtime::Runtime,
}

impl LoopbackServer {
    /// Serves `broker` on a free loopback port with the default server settings.
    pub fn start(broker: Broker) -> Result<LoopbackServer> {
        LoopbackServer::start_with(broker, ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
    }

    /// Serves `broker` with `config` (its `listen` address is used as given).
    pub fn start_with(broker: Broker, config: ServerConfig) -> Result<LoopbackServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("brook-loopback")
            .enable_all()
            .build()
            .map_err(Error::io("starting the loopback server's runtime"))?;
        let server = runtime.block_on(async { KafkaServer::bind(broker, config) })?;
        let addr = server.local_addr();
        let handle = runtime.block_on(async { server.spawn() });
        Ok(LoopbackServer { addr, handle: Some(handle), runtime })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `bootstrap.servers` value for clients: `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops accepting, closes every connection and waits for the server to finish.
    pub fn shutdown(mut self) -> Result<()> {
        match self.handle.take() {
            Some(h) => self.runtime.block_on(h.shutdown()),
            None => Ok(()),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take()
            && let Err(e) = self.runtime.block_on(h.shutdown())
        {
            tracing::warn!(error = %e, "stopping the loopback Kafka listener");
        }
    }
}
