//! The command topic: the durable, ordered log of catalog changes (ksqlDB's
//! `_confluent-ksql-default__command_topic`; Brook's is [`COMMAND_TOPIC`]).
//!
//! Each record is one JSON [`Command`]: the statement text as executed (variables already
//! substituted), the query id it was given, and the session properties it ran with. On start
//! the engine reads the topic from the beginning and re-executes every command without side
//! effects on topics, so the catalog and the set of running queries come back exactly as they
//! were; persistent queries then resume from their committed offsets.

use brook_broker::{Broker, NewRecord, OffsetSpec, TopicConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the command topic.
pub const COMMAND_TOPIC: &str = "_brook_commands";

/// One catalog change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The statement, as executed.
    pub statement: String,
    /// The query id assigned to a persistent query it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// Session properties in effect (e.g. `auto.offset.reset`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub properties: std::collections::BTreeMap<String, String>,
}

/// Appends to and reads the command topic of an embedded broker.
#[derive(Clone)]
pub struct CommandLog {
    broker: Broker,
}

impl CommandLog {
    /// Opens the log. The topic is created with the first command, so a broker that never
    /// runs SQL does not get one.
    pub fn open(broker: Broker) -> Result<Self> {
        Ok(CommandLog { broker })
    }

    fn create(&self) -> Result<()> {
        if self.broker.topic(COMMAND_TOPIC).is_ok() {
            return Ok(());
        }
        // One partition (a total order), kept forever.
        let config = TopicConfig::from_pairs([("retention.ms", "-1"), ("retention.bytes", "-1")])?;
        match self.broker.create_topic(COMMAND_TOPIC, 1, config) {
            Ok(()) | Err(brook_broker::Error::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends a command and waits until it is durable.
    pub fn append(&self, command: &Command) -> Result<()> {
        self.create()?;
        let value = serde_json::to_vec(command)
            .map_err(|e| Error::Internal(format!("cannot encode a command: {e}")))?;
        let placed = self.broker.produce(
            COMMAND_TOPIC,
            Some(0),
            vec![NewRecord::new(None::<Vec<u8>>, Some(value))],
        )?;
        if let Some(&(p, offset)) = placed.first() {
            block_on(self.broker.wait_durable(COMMAND_TOPIC, p, offset + 1))??;
        }
        Ok(())
    }

    /// Every command, oldest first. Records that do not decode are skipped with a warning.
    pub fn read_all(&self) -> Result<Vec<Command>> {
        if self.broker.topic(COMMAND_TOPIC).is_err() {
            return Ok(Vec::new());
        }
        let end = self.broker.list_offset(COMMAND_TOPIC, 0, OffsetSpec::Latest)?.map_or(0, |o| o.0);
        let mut offset = self.broker.list_offset(COMMAND_TOPIC, 0, OffsetSpec::Earliest)?.map_or(0, |o| o.0);
        let mut out = Vec::new();
        while offset < end {
            let records = self.broker.read(COMMAND_TOPIC, 0, offset, 1 << 20)?;
            let Some(last) = records.last() else { break };
            offset = last.offset + 1;
            for r in records {
                let Some(v) = r.value else { continue };
                match serde_json::from_slice::<Command>(&v) {
                    Ok(c) => out.push(c),
                    Err(e) => {
                        tracing::warn!(offset = r.offset, error = %e, "skipping an undecodable command")
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Runs a broker future to completion. The broker's futures only wait for its flusher
/// thread, so no async runtime is needed; a scoped thread keeps this callable from inside
/// any executor (async tasks, test runners) without nesting executors.
pub(crate) fn block_on<F>(f: F) -> Result<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| s.spawn(|| futures::executor::block_on(f)).join())
        .map_err(|_| Error::Internal("a thread waiting for the broker panicked".into()))
}
