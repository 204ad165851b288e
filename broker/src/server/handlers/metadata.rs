//! Metadata (key 3): brokers, topics and partition leaders.
//!
//! This single node leads every partition and is the controller. Unknown topics are created
//! with [`BrokerConfig::default_partitions`](crate::BrokerConfig) when the broker allows
//! auto-creation (`auto.create.topics.enable`) and the request does too (v4+
//! `allow_auto_topic_creation`; consumers send false). No other request creates topics, and
//! internal names (`__*`, `_brook_*`) are never auto-created; invalid names get
//! INVALID_TOPIC_EXCEPTION (17). Leader epochs are -1 everywhere, so clients skip KIP-320 epoch
//! validation (OffsetForLeaderEpoch is not implemented).

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{Connection, str_bytes};
use crate::broker::validate_topic_name;
use crate::error::Error;
use crate::log::TopicConfig;

/// Describes the requested topics (all topics when the list is null, or empty at v0).
pub(crate) fn handle(conn: &Connection, req: MetadataRequest, version: i16) -> MetadataResponse {
    let shared = &conn.shared;
    let broker = &shared.broker;
    let node = broker.config().node_id;
    let mut resp = MetadataResponse::default();
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(node);
    b.host = str_bytes(shared.config.advertised_host.clone());
    b.port = i32::from(shared.advertised_port);
    resp.brokers.push(b);
    resp.cluster_id = Some(str_bytes(shared.config.cluster_id.clone()));
    resp.controller_id = BrokerId(node);

    let names: Vec<String> = match &req.topics {
        Some(t) if !(t.is_empty() && version == 0) => {
            t.iter().map(|t| t.name.as_ref().map(|n| n.as_str().to_string()).unwrap_or_default()).collect()
        }
        _ => broker.topic_names(),
    };
    let may_create = broker.config().auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    for name in names {
        let mut topic = MetadataResponseTopic::default();
        topic.name = Some(TopicName(str_bytes(name.clone())));
        let found = match broker.topic(&name) {
            Ok(t) => Ok(t),
            Err(_) if may_create && !crate::is_internal_topic(&name) => {
                let created = validate_topic_name(&name).and_then(|_| {
                    match broker.create_topic(
                        &name,
                        broker.config().default_partitions,
                        TopicConfig::default(),
                    ) {
                        Ok(()) | Err(Error::TopicAlreadyExists(_)) => broker.topic(&name),
                        Err(e) => Err(e),
                    }
                });
                if created.is_ok() {
                    tracing::info!(topic = %name, "auto-created topic");
                }
                created
            }
            Err(e) => Err(e),
        };
        match found {
            Ok(t) => {
                topic.is_internal = t.is_internal();
                for p in 0..t.partition_count() {
                    let mut part = MetadataResponsePartition::default();
                    part.partition_index = p;
                    part.leader_id = BrokerId(node);
                    part.leader_epoch = -1;
                    part.replica_nodes = vec![BrokerId(node)];
                    part.isr_nodes = vec![BrokerId(node)];
                    topic.partitions.push(part);
                }
            }
            Err(e) => topic.error_code = e.kafka_code(),
        }
        resp.topics.push(topic);
    }
    resp
}
