//! The command topic: the durable, ordered log of catalog changes (ksqlDB's
//! `_confluent-ksql-default__command_topic`; Brook's is `_brook_commands`, or
//! `_brook_<service id>_commands`: see [`crate::engine::service`]).
//!
//! Each record is one JSON [`Command`]: the statement text as executed (variables already
//! substituted), the query id it was given, and the session properties it ran with. On start
//! the engine reads the topic from the beginning and re-executes every command without side
//! effects on topics, so the catalog and the set of running queries come back exactly as they
//! were; persistent queries then resume from their committed offsets.
//!
//! The topic lives in the engine's cluster, so every engine on one cluster shares it, as ksqlDB
//! servers of one service id do: [`CommandLog::read_new`] returns the commands other engines
//! appended since the last call (this engine's own are already applied and skipped), and the
//! engine applies them before each statement and, on a server, every few hundred milliseconds.

use std::collections::BTreeSet;
use std::sync::Arc;

use brook_broker::NewRecord;
use brook_client::Cluster;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// Appends to and follows the command topic of the engine's cluster.
pub struct CommandLog {
    cluster: Arc<dyn Cluster>,
    /// The command topic's name.
    topic: String,
    /// Where [`CommandLog::read_new`] continues, and the offsets of commands this engine
    /// appended that it has not read past yet (it applied them when it wrote them).
    cursor: Mutex<Cursor>,
}

#[derive(Default)]
struct Cursor {
    next: i64,
    own: BTreeSet<i64>,
}

impl CommandLog {
    /// Opens the log. The topic is created with the first command, so a cluster that never
    /// runs SQL does not get one.
    pub fn open(cluster: Arc<dyn Cluster>, topic: String) -> Self {
        CommandLog { cluster, topic, cursor: Mutex::new(Cursor::default()) }
    }

    /// Appends a command and waits until it is durable.
    pub fn append(&self, command: &Command) -> Result<()> {
        // One partition (a total order), kept forever.
        self.cluster.ensure_topic(&self.topic, 1, &[("retention.ms", "-1"), ("retention.bytes", "-1")])?;
        let value = serde_json::to_vec(command)
            .map_err(|e| Error::Internal(format!("cannot encode a command: {e}")))?;
        let placed =
            self.cluster.produce(&self.topic, Some(0), vec![NewRecord::new(None::<Vec<u8>>, Some(value))])?;
        if let Some(&(p, offset)) = placed.first() {
            self.cluster.sync(&self.topic, p, offset + 1)?;
            let mut cursor = self.cursor.lock();
            if offset >= cursor.next {
                cursor.own.insert(offset);
            }
        }
        Ok(())
    }

    /// The commands appended since the last call (all of them on the first), oldest first,
    /// except this engine's own. Records that do not decode are skipped with a warning.
    pub fn read_new(&self) -> Result<Vec<Command>> {
        let mut cursor = self.cursor.lock();
        if self.cluster.partitions(&self.topic)?.is_none() {
            return Ok(Vec::new());
        }
        let Cursor { next, own } = &mut *cursor;
        let mut out = Vec::new();
        *next = self.cluster.scan(&self.topic, 0, *next, &mut |r| {
            if own.remove(&r.offset) {
                return;
            }
            let Some(v) = &r.value else { return };
            match serde_json::from_slice::<Command>(v) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(offset = r.offset, error = %e, "skipping an undecodable command"),
            }
        })?;
        let below = *next;
        own.retain(|&o| o >= below);
        Ok(out)
    }
}
