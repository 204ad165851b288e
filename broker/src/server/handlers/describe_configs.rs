//! DescribeConfigs (key 32): every topic config with its value, source and default.
//!
//! Topics (resource type 2) list all of [`TOPIC_CONFIGS`]: overrides with source
//! DYNAMIC_TOPIC_CONFIG (1), the rest with DEFAULT_CONFIG (5), with synonyms when asked (the
//! override, then the default), their types (v3+) and documentation (v3+, when asked). The
//! broker (resource type 4, named by node id) reports its read-only static settings. Clients
//! rely on real entries here: an empty list breaks them.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{Connection, str_bytes};
use crate::log::config::TOPIC_CONFIGS;

/// Resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// Resource type of a broker.
pub const RESOURCE_BROKER: i8 = 4;
/// Config source: a topic-level override.
pub const SOURCE_TOPIC: i8 = 1;
/// Config source: a static broker setting.
pub const SOURCE_STATIC_BROKER: i8 = 4;
/// Config source: the built-in default.
pub const SOURCE_DEFAULT: i8 = 5;

/// Kafka's config type code for a topic config (STRING 2, INT 3, LONG 5, LIST 7).
pub fn config_type(name: &str) -> i8 {
    match name {
        "cleanup.policy" => 7,
        "segment.bytes" | "max.message.bytes" | "index.interval.bytes" => 3,
        "message.timestamp.type" => 2,
        _ => 5,
    }
}

/// Describes each resource.
pub(crate) fn handle(
    conn: &Connection,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let broker = &conn.shared.broker;
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = res.resource_type;
        let wanted = |name: &str| {
            res.configuration_keys
                .as_ref()
                .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
        };
        match res.resource_type {
            RESOURCE_TOPIC => match broker.topic(res.resource_name.as_str()) {
                Ok(topic) => {
                    let config = topic.config();
                    for def in TOPIC_CONFIGS.iter().filter(|d| wanted(d.name)) {
                        let (value, is_default) =
                            config.get(def.name).unwrap_or((def.default.to_string(), true));
                        let mut entry = DescribeConfigsResourceResult::default();
                        entry.name = str_bytes(def.name);
                        entry.value = Some(str_bytes(value.clone()));
                        entry.config_source = if is_default { SOURCE_DEFAULT } else { SOURCE_TOPIC };
                        if req.include_synonyms {
                            if !is_default {
                                let mut s = DescribeConfigsSynonym::default();
                                s.name = str_bytes(def.name);
                                s.value = Some(str_bytes(value));
                                s.source = SOURCE_TOPIC;
                                entry.synonyms.push(s);
                            }
                            let mut s = DescribeConfigsSynonym::default();
                            s.name = str_bytes(def.name);
                            s.value = Some(str_bytes(def.default));
                            s.source = SOURCE_DEFAULT;
                            entry.synonyms.push(s);
                        }
                        if version >= 3 {
                            entry.config_type = config_type(def.name);
                            if req.include_documentation {
                                entry.documentation = Some(str_bytes(def.doc));
                            }
                        }
                        result.configs.push(entry);
                    }
                }
                Err(e) => {
                    result.error_code = e.kafka_code();
                    result.error_message = Some(str_bytes(e.to_string()));
                }
            },
            RESOURCE_BROKER => {
                let node = broker.config().node_id;
                if res.resource_name.as_str() != node.to_string() && !res.resource_name.is_empty() {
                    result.error_code = 42;
                    result.error_message = Some(str_bytes(format!(
                        "this is broker {node}, not '{}'",
                        res.resource_name.as_str()
                    )));
                } else {
                    let c = broker.config();
                    let s = &conn.shared.config;
                    // Config types: 1 boolean, 2 string, 3 int, 5 long.
                    let settings = [
                        ("broker.id", node.to_string(), 3),
                        ("num.partitions", c.default_partitions.to_string(), 3),
                        ("auto.create.topics.enable", c.auto_create_topics.to_string(), 1),
                        ("log.dirs", c.data_dir.display().to_string(), 2),
                        ("message.max.bytes", c.message_max_bytes.to_string(), 3),
                        ("socket.request.max.bytes", s.max_frame_bytes.to_string(), 3),
                        ("max.connections", s.max_connections.to_string(), 3),
                        ("max.connections.per.ip", s.max_connections_per_ip.to_string(), 3),
                        ("connections.max.idle.ms", s.connections_max_idle.as_millis().to_string(), 5),
                        ("fetch.max.bytes", s.fetch_max_bytes.to_string(), 3),
                    ];
                    for (name, value, kind) in settings.into_iter().filter(|(n, _, _)| wanted(n)) {
                        let mut entry = DescribeConfigsResourceResult::default();
                        entry.name = str_bytes(name);
                        entry.value = Some(str_bytes(value));
                        entry.read_only = true;
                        entry.config_source = SOURCE_STATIC_BROKER;
                        if version >= 3 {
                            entry.config_type = kind;
                        }
                        result.configs.push(entry);
                    }
                }
            }
            other => {
                result.error_code = 42;
                result.error_message = Some(str_bytes(format!("resource type {other} is not supported")));
            }
        }
        result.resource_name = res.resource_name;
        resp.results.push(result);
    }
    resp
}
