//! Integration tests of brook-connect, gathered in one binary: sources and sinks against a real
//! (embedded) broker, the connector manager, and a kill test with real processes.

mod debezium;
mod files;
mod kill;
mod manager;
mod recovery;
mod remote;
mod sink;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use brook_broker::{Broker, BrokerConfig, Record};
use brook_client::EmbeddedCluster;
use brook_connect::config::SourceConfig;
use brook_connect::{ConnectorConfig, ConnectorDefinition, ConnectorKind, MetricsSnapshot};
use serde_json::Value;

/// A broker in `dir` that flushes only on request.
///
/// Reopening retries briefly on `DataDirInUse`: while another test of this binary spawns a
/// process, the child holds a copy of every open file — the data directory's lock included —
/// between fork and exec.
pub fn open_broker(dir: &Path) -> Broker {
    let mut config = BrokerConfig::new(dir);
    config.flush_interval = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Broker::open(config.clone()) {
            Err(brook_broker::Error::DataDirInUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result.expect("open broker"),
        }
    }
}

/// A source configuration from properties.
pub fn source_config(name: &str, props: &[(&str, &str)]) -> SourceConfig {
    let def = ConnectorDefinition::new(name, ConnectorKind::Source, props.iter().copied())
        .expect("valid definition");
    match def.config().expect("valid config") {
        ConnectorConfig::Source(s) => s,
        ConnectorConfig::Sink(_) => unreachable!("a source definition"),
    }
}

/// Runs a source to the end of its input (once mode) and returns its counters.
pub fn ingest(broker: &Broker, name: &str, props: &[(&str, &str)]) -> MetricsSnapshot {
    let metrics = brook_connect::source::run_once(
        name,
        source_config(name, props),
        Arc::new(EmbeddedCluster::new(broker.clone())),
    )
    .expect("source runs");
    metrics.snapshot()
}

/// A record as the tests look at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    /// Partition.
    pub partition: i32,
    /// Key as text.
    pub key: Option<String>,
    /// Value parsed as JSON (if it is JSON).
    pub value: Option<Value>,
    /// Value bytes.
    pub raw_value: Option<Vec<u8>>,
    /// Headers as text.
    pub headers: Vec<(String, Option<String>)>,
}

/// Every record of `topic`, partition by partition.
pub fn read_topic(broker: &Broker, topic: &str) -> Vec<Rec> {
    let t = broker.topic(topic).expect("topic exists");
    let mut out = Vec::new();
    for p in 0..t.partition_count() {
        let mut next = 0;
        loop {
            let rs: Vec<Record> = broker.read(topic, p, next, 1 << 20).expect("read");
            let Some(last) = rs.last() else { break };
            next = last.offset + 1;
            for r in rs {
                out.push(Rec {
                    partition: p,
                    key: r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                    value: r.value.as_ref().and_then(|v| serde_json::from_slice(v).ok()),
                    raw_value: r.value.map(|v| v.to_vec()),
                    headers: r
                        .headers
                        .into_iter()
                        .map(|h| {
                            (
                                String::from_utf8_lossy(&h.key).into_owned(),
                                h.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

/// The table a changelog topic describes: key → latest `after` row (deletes remove).
pub fn table_of(records: &[Rec]) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for r in records {
        let Some(key) = &r.key else { continue };
        match &r.value {
            Some(v) if !v["after"].is_null() => {
                table.insert(key.clone(), v["after"].clone());
            }
            _ => {
                table.remove(key);
            }
        }
    }
    table
}

/// Writes `lines` (each followed by a newline) to `path`.
pub fn write_lines(path: &Path, lines: &[&str]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write input file");
}

/// The value of header `name` of a record.
pub fn header<'a>(r: &'a Rec, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
}
