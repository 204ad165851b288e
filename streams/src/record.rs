//! Records as they enter, travel through and leave a topology.
//!
//! * [`InputRecord`]: raw bytes read from a topic partition (zero-copy slices of the fetched
//!   batch), with the metadata the engine needs (offset, timestamp, headers).
//! * [`Record`]: a typed record inside the DSL, after the source's serdes.
//! * [`OutputRecord`]: raw bytes on their way to a topic (or to a registered callback sink).

use bytes::Bytes;

pub use brook_broker::Header;

/// A raw record read from a topic partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Topic it came from.
    pub topic: std::sync::Arc<str>,
    /// Partition it came from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Record timestamp (ms).
    pub timestamp: i64,
    /// Key bytes (`None`: null key).
    pub key: Option<Bytes>,
    /// Value bytes (`None`: tombstone).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<Header>,
}

impl InputRecord {
    /// A record a broker returned from partition `partition` of `topic`.
    pub fn from_broker(topic: std::sync::Arc<str>, partition: i32, r: brook_broker::Record) -> Self {
        InputRecord {
            topic,
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    }
}

/// A typed record inside the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// Key.
    pub key: K,
    /// Value.
    pub value: V,
    /// Event time (ms).
    pub timestamp: i64,
    /// Headers, carried through operators unchanged unless an operator sets them.
    pub headers: Vec<Header>,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record { key, value, timestamp, headers: Vec::new() }
    }

    /// Replaces key and value, keeping time and headers.
    pub fn with<K2, V2>(self, key: K2, value: V2) -> Record<K2, V2> {
        Record { key, value, timestamp: self.timestamp, headers: self.headers }
    }
}

/// A raw record to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Destination topic (or callback sink name).
    pub topic: String,
    /// Explicit partition, or `None` for Kafka's default partitioner on the key.
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Bytes>,
    /// Value bytes (`None`: tombstone).
    pub value: Option<Bytes>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: Vec<Header>,
}
