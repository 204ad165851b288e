//! [`Connection`]: how a component that keeps its own long-lived clients — the streams
//! runtime's consumers and producers — reaches the cluster a [`crate::Cluster`] stands for.
//!
//! A [`crate::Cluster`] answers one call at a time. A stream thread instead holds a consumer
//! in a group and a producer for as long as it runs; [`crate::Cluster::connection`] tells it
//! where to open them: function calls on the same in-process broker, or librdkafka clients
//! with the same bootstrap servers and client properties as the cluster client.

use brook_broker::Broker;

/// Where a [`crate::Cluster`]'s topics live, for clients that connect by themselves.
#[derive(Clone)]
pub enum Connection {
    /// An in-process broker (no sockets).
    Embedded(Broker),
    /// A Kafka-protocol cluster at `bootstrap` (HOST:PORT[,…]), with extra librdkafka settings
    /// (`client.id`, security settings, …).
    Kafka {
        /// Bootstrap servers.
        bootstrap: String,
        /// Extra client properties.
        properties: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Embedded(b) => write!(f, "Embedded({b:?})"),
            Connection::Kafka { bootstrap, .. } => write!(f, "Kafka({bootstrap})"),
        }
    }
}
