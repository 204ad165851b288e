//! Where an example runs: an embedded broker, or a Kafka-protocol server.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use brook_broker::{Broker, BrokerConfig, NewRecord, TopicConfig};
use brook_streams::{Connection, KafkaStreams, StreamsConfig, Topology};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

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

/// An example's broker.
pub enum Cluster {
    /// In-process broker in a temporary directory.
    Embedded {
        /// The broker.
        broker: Broker,
        /// Keeps the directory alive.
        dir: tempfile::TempDir,
    },
    /// A Kafka-protocol endpoint.
    Remote {
        /// HOST:PORT.
        bootstrap: String,
        /// Suffix that keeps topic and application names unique per run.
        suffix: String,
    },
}

impl Cluster {
    /// An embedded broker in a fresh temporary directory.
    pub fn embedded() -> Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let broker = Broker::open(BrokerConfig::new(dir.path().join("data")))?;
        Ok(Cluster::Embedded { broker, dir })
    }

    /// A running server at `bootstrap`.
    pub fn remote(bootstrap: &str) -> Cluster {
        let suffix = format!("-{}-{}", std::process::id(), brook_broker::util::now_ms());
        Cluster::Remote { bootstrap: bootstrap.to_string(), suffix }
    }

    /// The topic (or application id) name to use for `base` in this run.
    pub fn name(&self, base: &str) -> String {
        match self {
            Cluster::Embedded { .. } => base.to_string(),
            Cluster::Remote { suffix, .. } => format!("{base}{suffix}"),
        }
    }

    fn client(bootstrap: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap);
        c
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match self {
            Cluster::Embedded { broker, .. } => {
                Ok(broker.create_topic(name, partitions, TopicConfig::default())?)
            }
            Cluster::Remote { bootstrap, .. } => {
                let admin: AdminClient<DefaultClientContext> = Self::client(bootstrap).create()?;
                let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
                let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
                for r in block_on(admin.create_topics([&topic], &opts))? {
                    r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Writes `(key, value, timestamp)` records, keyed records on Kafka's default partition.
    pub fn produce(&self, topic: &str, records: &[(Option<String>, Option<String>, i64)]) -> Result<()> {
        match self {
            Cluster::Embedded { broker, .. } => {
                let recs = records
                    .iter()
                    .map(|(k, v, ts)| NewRecord::new(k.clone(), v.clone()).with_timestamp(*ts))
                    .collect();
                broker.produce(topic, None, recs)?;
                Ok(())
            }
            Cluster::Remote { bootstrap, .. } => {
                let producer: FutureProducer = Self::client(bootstrap)
                    .set("partitioner", "murmur2_random")
                    .set("acks", "all")
                    .create()?;
                // One record at a time keeps the input order across partitions identical to
                // the embedded run (the examples' timestamps are in order).
                for (k, v, ts) in records {
                    let mut r: FutureRecord<'_, str, str> = FutureRecord::to(topic).timestamp(*ts);
                    if let Some(k) = k {
                        r = r.key(k.as_str());
                    }
                    if let Some(v) = v {
                        r = r.payload(v.as_str());
                    }
                    block_on(producer.send(r, Duration::from_secs(30)))
                        .map_err(|(e, _)| anyhow::anyhow!("produce: {e}"))?;
                }
                Ok(())
            }
        }
    }

    /// Runs a topology until it has processed all input, then stops it.
    pub fn run(&self, app: &str, topology: Topology) -> Result<()> {
        let state = tempfile::tempdir()?;
        let connection = match self {
            Cluster::Embedded { broker, .. } => Connection::Embedded(broker.clone()),
            Cluster::Remote { bootstrap, .. } => {
                Connection::Kafka { bootstrap: bootstrap.clone(), properties: vec![] }
            }
        };
        let mut config = StreamsConfig::new(app, connection, state.path());
        config.commit_interval = Duration::from_millis(100);
        let streams = KafkaStreams::start(topology, config)?;
        let quiet = match self {
            Cluster::Embedded { .. } => Duration::from_millis(300),
            // Group joins and fetch round trips make the remote path slower to settle.
            Cluster::Remote { .. } => Duration::from_secs(3),
        };
        if !streams.wait_until_idle(quiet, Duration::from_secs(120)) {
            bail!("the application did not finish: {:?}", streams.failure());
        }
        streams.close()?;
        Ok(())
    }

    /// Every record of `topic`, partition by partition in offset order.
    pub fn read_all(&self, topic: &str) -> Result<Vec<Output>> {
        match self {
            Cluster::Embedded { broker, .. } => {
                let mut out = Vec::new();
                let t = broker.topic(topic)?;
                for p in 0..t.partition_count() {
                    let mut next = 0;
                    loop {
                        let rs = broker.read(topic, p, next, 1 << 20)?;
                        let Some(last) = rs.last() else { break };
                        next = last.offset + 1;
                        out.extend(rs.into_iter().map(|r| Output {
                            partition: p,
                            key: r.key.map(|b| b.to_vec()),
                            value: r.value.map(|b| b.to_vec()),
                            timestamp: r.timestamp,
                        }));
                    }
                }
                Ok(out)
            }
            Cluster::Remote { bootstrap, .. } => {
                let consumer: BaseConsumer = Self::client(bootstrap)
                    .set("group.id", format!("example-reader-{}", brook_broker::util::now_ms()))
                    .set("enable.auto.commit", "false")
                    .create()?;
                let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                let parts = md.topics().first().context("no topic metadata")?.partitions().len() as i32;
                let mut out = Vec::new();
                for p in 0..parts {
                    let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
                    if high == 0 {
                        continue;
                    }
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition_offset(topic, p, Offset::Beginning)?;
                    consumer.assign(&tpl)?;
                    loop {
                        let m =
                            consumer.poll(Duration::from_secs(10)).context("timed out reading back")??;
                        out.push(Output {
                            partition: p,
                            key: m.key().map(<[u8]>::to_vec),
                            value: m.payload().map(<[u8]>::to_vec),
                            timestamp: m.timestamp().to_millis().unwrap_or(-1),
                        });
                        if m.offset() + 1 >= high {
                            break;
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // rdkafka's futures complete on librdkafka's own threads; no runtime is needed.
    futures::executor::block_on(f)
}
