//! [`KafkaCluster`]: the [`Cluster`] operations over the Kafka protocol (librdkafka), for
//! connectors that run next to a `brook server` (or any Kafka cluster) instead of inside it —
//! `brook connect run --bootstrap HOST:PORT`.
//!
//! The producer is idempotent with `acks=all`: records of one partition land in order without
//! gaps or duplicates from retries, which is the prefix property exactly-once recovery needs
//! (see [`crate::checkpoint`]). An acknowledged record is durable (Brook acknowledges
//! `acks=all` after fsync), so [`Cluster::sync`] has nothing left to wait for.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use brook_broker::{Header, NewRecord, Record};

use crate::cluster::Cluster;
use crate::error::{Error, Result};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The reading consumer and where its assignment stands: `(topic, partition, next offset)`.
struct Reader {
    consumer: BaseConsumer,
    position: Option<(String, i32, i64)>,
}

/// A Kafka-protocol cluster.
pub struct KafkaCluster {
    bootstrap: String,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Metadata, offsets and reads (one partition assigned at a time).
    reader: Mutex<Reader>,
    groups: Mutex<HashMap<String, BaseConsumer>>,
}

impl KafkaCluster {
    /// Connects to `bootstrap` (HOST:PORT[,…]).
    pub fn connect(bootstrap: &str) -> Result<KafkaCluster> {
        let err = |e: KafkaError| Error::Remote { bootstrap: bootstrap.to_string(), message: e.to_string() };
        let base = |client_id: &str| {
            let mut c = ClientConfig::new();
            c.set("bootstrap.servers", bootstrap).set("client.id", client_id);
            c
        };
        let producer = base("brook-connect")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000")
            .create()
            .map_err(err)?;
        let admin = base("brook-connect-admin").create().map_err(err)?;
        let reader = base("brook-connect-reader")
            .set("group.id", "_brook_connect.reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("allow.auto.create.topics", "false")
            // Reads are short scans that stop at the end of the partition: answer fast.
            .set("fetch.wait.max.ms", "10")
            .set("fetch.error.backoff.ms", "10")
            .create()
            .map_err(err)?;
        let cluster = KafkaCluster {
            bootstrap: bootstrap.to_string(),
            producer,
            admin,
            reader: Mutex::new(Reader { consumer: reader, position: None }),
            groups: Mutex::new(HashMap::new()),
        };
        // Fail early, with a clear message, when nothing listens there.
        let guard = cluster.reader.lock();
        guard.consumer.fetch_metadata(None, Duration::from_secs(10)).map_err(|e| Error::Remote {
            bootstrap: bootstrap.to_string(),
            message: format!("cannot reach the cluster ({e}); is `brook server` running there?"),
        })?;
        drop(guard);
        Ok(cluster)
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::Remote { bootstrap: self.bootstrap.clone(), message: format!("{what}: {e}") }
    }

    fn group_consumer(&self, group: &str) -> Result<()> {
        let mut groups = self.groups.lock();
        if !groups.contains_key(group) {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &self.bootstrap)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .create()
                .map_err(|e| self.err("creating a group client", e))?;
            groups.insert(group.to_string(), c);
        }
        Ok(())
    }
}

impl Cluster for KafkaCluster {
    fn describe(&self) -> String {
        format!("cluster at {}", self.bootstrap)
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        let guard = self.reader.lock();
        let md = guard
            .consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| self.err("reading metadata", e))?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else { return Ok(None) };
        match t.error() {
            Some(_) => Ok(None),
            None if t.partitions().is_empty() => Ok(None),
            None => Ok(Some(t.partitions().len() as i32)),
        }
    }

    fn create_topic(&self, topic: &str, partitions: i32, config: &[(&str, &str)]) -> Result<()> {
        let new = config
            .iter()
            .fold(NewTopic::new(topic, partitions, TopicReplication::Fixed(1)), |t, (k, v)| t.set(k, v));
        let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = futures::executor::block_on(self.admin.create_topics([&new], &opts))
            .map_err(|e| self.err("creating a topic", e))?;
        for r in results {
            if let Err((t, e)) = r
                && e != RDKafkaErrorCode::TopicAlreadyExists
            {
                return Err(self.err(&format!("creating topic {t}"), e));
            }
        }
        Ok(())
    }

    fn append(&self, topic: &str, partition: i32, records: Vec<NewRecord>) -> Result<i64> {
        let mut futures = Vec::with_capacity(records.len());
        for r in &records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for h in &r.headers {
                headers = headers
                    .insert(KHeader { key: &String::from_utf8_lossy(&h.key), value: h.value.as_deref() });
            }
            let mut rec: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).partition(partition).headers(headers);
            if let Some(ts) = r.timestamp {
                rec = rec.timestamp(ts);
            }
            if let Some(k) = &r.key {
                rec = rec.key(k.as_ref());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_ref());
            }
            loop {
                match self.producer.send_result(rec) {
                    Ok(f) => {
                        futures.push(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        rec = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => return Err(self.err("producing", e)),
                }
            }
        }
        let mut end = 0;
        for f in futures {
            match futures::executor::block_on(f) {
                Ok(Ok(d)) => end = end.max(d.offset + 1),
                Ok(Err((e, _))) => return Err(self.err("producing", e)),
                Err(_) => return Err(self.err("producing", "the producer was closed")),
            }
        }
        Ok(end)
    }

    fn sync(&self, _topic: &str, _partition: i32, _end: i64) -> Result<()> {
        Ok(())
    }

    fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let guard = self.reader.lock();
        guard.consumer.fetch_watermarks(topic, partition, TIMEOUT).map_err(|e| self.err("reading offsets", e))
    }

    fn read(&self, topic: &str, partition: i32, from: i64, max_bytes: usize) -> Result<Vec<Record>> {
        let (_, end) = self.offsets(topic, partition)?;
        if from >= end {
            return Ok(Vec::new());
        }
        let mut guard = self.reader.lock();
        let Reader { consumer, position: assigned } = &mut *guard;
        if assigned.as_ref() != Some(&(topic.to_string(), partition, from)) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, partition, Offset::Offset(from))
                .map_err(|e| self.err("assigning", e))?;
            consumer.assign(&tpl).map_err(|e| self.err("assigning", e))?;
        }
        let mut out: Vec<Record> = Vec::new();
        let mut bytes = 0usize;
        let deadline = std::time::Instant::now() + TIMEOUT;
        while bytes < max_bytes && std::time::Instant::now() < deadline {
            let timeout = if out.is_empty() { Duration::from_millis(500) } else { Duration::ZERO };
            let Some(msg) = consumer.poll(timeout) else {
                if out.is_empty() {
                    continue;
                }
                break;
            };
            let msg = msg.map_err(|e| self.err("reading", e))?;
            if msg.topic() != topic || msg.partition() != partition || msg.offset() < from {
                continue;
            }
            let headers = msg
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|KHeader { key, value }| Header {
                            key: Bytes::copy_from_slice(key.as_bytes()),
                            value: value.map(Bytes::copy_from_slice),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let record = Record {
                offset: msg.offset(),
                timestamp: msg.timestamp().to_millis().unwrap_or(0),
                key: msg.key().map(Bytes::copy_from_slice),
                value: msg.payload().map(Bytes::copy_from_slice),
                headers,
            };
            bytes += record.key.as_ref().map_or(0, Bytes::len) + record.value.as_ref().map_or(0, Bytes::len);
            let last = record.offset;
            out.push(record);
            if last + 1 >= end {
                break;
            }
        }
        *assigned = out.last().map(|r| (topic.to_string(), partition, r.offset + 1));
        Ok(out)
    }

    fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) -> Result<()> {
        self.group_consumer(group)?;
        let groups = self.groups.lock();
        let Some(c) = groups.get(group) else { return Ok(()) };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| self.err("committing", e))?;
        c.commit(&tpl, CommitMode::Sync).map_err(|e| self.err("committing", e))
    }

    fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>> {
        self.group_consumer(group)?;
        let groups = self.groups.lock();
        let Some(c) = groups.get(group) else { return Ok(None) };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let got = c.committed_offsets(tpl, TIMEOUT).map_err(|e| self.err("reading committed offsets", e))?;
        Ok(got.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }))
    }
}
