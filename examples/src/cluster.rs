//! Where an example runs: a [`brook_client::Cluster`] — an embedded broker in a temporary
//! directory, or a Kafka-protocol server — plus the settings the streams runtime needs for it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use brook_broker::{Broker, BrokerConfig, NewRecord};
use brook_client::{Cluster as Topics, EmbeddedCluster, KafkaCluster};
use brook_streams::{Connection, KafkaStreams, StreamsConfig, Topology};

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Partition.
    pub partition: i32,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp.
    pub timestamp: i64,
}

/// An example's cluster.
pub struct Cluster {
    topics: Arc<dyn Topics>,
    /// Suffix that keeps topic and application names unique per run on a shared server.
    suffix: String,
    /// Keeps an embedded broker's directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// An embedded broker in a fresh temporary directory.
    pub fn embedded() -> Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let broker = Broker::open(BrokerConfig::new(dir.path().join("data")))?;
        Ok(Cluster { topics: Arc::new(EmbeddedCluster::new(broker)), suffix: String::new(), _dir: Some(dir) })
    }

    /// A running server at `bootstrap`.
    pub fn remote(bootstrap: &str) -> Result<Cluster> {
        Ok(Cluster {
            topics: Arc::new(KafkaCluster::connect_with(bootstrap, "brook-example", &[])?),
            suffix: format!("-{}-{}", std::process::id(), brook_broker::util::now_ms()),
            _dir: None,
        })
    }

    /// The topic (or application id) name to use for `base` in this run.
    pub fn name(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// The topics, for code that takes a [`brook_client::Cluster`] (connectors).
    pub fn topics(&self) -> Arc<dyn Topics> {
        self.topics.clone()
    }

    fn is_embedded(&self) -> bool {
        matches!(self.topics.connection(), Connection::Embedded(_))
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        Ok(self.topics.create_topic(name, partitions, &[])?)
    }

    /// Writes `(key, value, timestamp)` records, keyed records on Kafka's default partition.
    pub fn produce(&self, topic: &str, records: &[(Option<String>, Option<String>, i64)]) -> Result<()> {
        let records =
            records.iter().map(|(k, v, ts)| NewRecord::new(k.clone(), v.clone()).with_timestamp(*ts));
        if self.is_embedded() {
            self.topics.produce(topic, None, records.collect())?;
        } else {
            // One record at a time keeps the input order across partitions identical to the
            // embedded run (the examples' timestamps are in order).
            for r in records {
                self.topics.produce(topic, None, vec![r])?;
            }
        }
        Ok(())
    }

    /// Runs a topology until it has processed all input, then stops it.
    pub fn run(&self, app: &str, topology: Topology) -> Result<()> {
        let state = tempfile::tempdir()?;
        let mut config = StreamsConfig::new(app, self.topics.connection(), state.path());
        config.commit_interval = Duration::from_millis(100);
        let streams = KafkaStreams::start(topology, config)?;
        let quiet = if self.is_embedded() {
            Duration::from_millis(300)
        } else {
            // Group joins and fetch round trips make the remote path slower to settle.
            Duration::from_secs(3)
        };
        if !streams.wait_until_idle(quiet, Duration::from_secs(120)) {
            bail!("the application did not finish: {:?}", streams.failure());
        }
        streams.close()?;
        Ok(())
    }

    /// Every record of `topic`, partition by partition in offset order.
    pub fn read_all(&self, topic: &str) -> Result<Vec<Output>> {
        let Some(partitions) = self.topics.partitions(topic)? else {
            bail!("topic {topic} does not exist in {}", self.topics.describe());
        };
        let mut out = Vec::new();
        for p in 0..partitions {
            self.topics.scan(topic, p, 0, &mut |r| {
                out.push(Output {
                    partition: p,
                    key: r.key.as_ref().map(|b| b.to_vec()),
                    value: r.value.as_ref().map(|b| b.to_vec()),
                    timestamp: r.timestamp,
                })
            })?;
        }
        Ok(out)
    }
}
