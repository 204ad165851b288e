//! Where a tool command acts: a [`brook_client::Cluster`] — the embedded broker on a data
//! directory, or a server (any Kafka cluster) over the Kafka protocol.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use brook_broker::{Broker, BrokerConfig};
use brook_client::{Cluster, EmbeddedCluster, KafkaCluster};
use clap::Args;
use rdkafka::ClientConfig;

/// Options that pick the broker a tool talks to.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Work directly on this data directory (no server may be running on it).
    #[arg(long, default_value = "./brook-data")]
    pub data_dir: PathBuf,
    /// Talk to a running Brook server (or any Kafka cluster) at HOST:PORT[,HOST:PORT…] instead
    /// (also spelled `--bootstrap-servers`, Kafka's `bootstrap.servers`).
    #[arg(long, visible_alias = "bootstrap-servers", env = "BROOK_BOOTSTRAP", value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
}

/// The resolved target.
pub enum Target {
    /// An in-process broker on a data directory.
    Local(EmbeddedCluster),
    /// A Kafka-protocol cluster.
    Remote(Box<KafkaCluster>),
}

impl TargetArgs {
    /// Opens the data directory, or connects to `--bootstrap`.
    pub fn open(&self) -> anyhow::Result<Target> {
        self.open_with(&[])
    }

    /// Like [`TargetArgs::open`], with extra producer properties for a remote cluster (`acks`).
    pub fn open_with(&self, producer: &[(&str, &str)]) -> anyhow::Result<Target> {
        self.open_as("brook-cli", producer)
    }

    /// Like [`TargetArgs::open_with`], naming the remote clients `client_id` (`brook-connect`
    /// may write Brook's internal topics on a Brook server: `BROOK_INTERNAL_WRITERS`).
    pub fn open_as(&self, client_id: &str, producer: &[(&str, &str)]) -> anyhow::Result<Target> {
        match &self.bootstrap {
            Some(b) => Ok(Target::Remote(Box::new(KafkaCluster::connect_with(b, client_id, producer)?))),
            None => {
                let mut config = BrokerConfig::new(&self.data_dir);
                config.cleaner_interval = Duration::from_secs(3600);
                let broker = Broker::open(config)
                    .with_context(|| format!("opening data directory {}", self.data_dir.display()))?;
                Ok(Target::Local(EmbeddedCluster::new(broker)))
            }
        }
    }
}

impl Target {
    /// The topics of the target.
    pub fn cluster(&self) -> &dyn Cluster {
        match self {
            Target::Local(c) => c,
            Target::Remote(c) => c.as_ref(),
        }
    }
}

/// A librdkafka client configuration for `bootstrap`.
pub fn kafka_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("client.id", "brook-cli");
    c
}

/// A librdkafka producer configuration for `bootstrap`.
///
/// Keyed records use Kafka's murmur2 partitioner (librdkafka defaults to CRC32), so a key lands
/// on the same partition as with the Java client and with `brook produce --data-dir`.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut c = kafka_config(bootstrap);
    c.set("partitioner", "murmur2_random");
    c
}

/// Closes a local broker cleanly (a no-op for remote targets).
pub fn close(target: Target) -> anyhow::Result<()> {
    if let Target::Local(c) = target {
        c.broker().close().context("closing the data directory")?;
    }
    Ok(())
}
