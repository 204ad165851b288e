//! CreateTopics (key 19): creates topics with partition counts and config overrides.
//!
//! `num_partitions = -1` means the broker default; explicit replica assignments decide the
//! partition count. This is a single node, so any replication factor ≥ 1 (or -1) is accepted
//! and reported as 1; 0 or < -1 is INVALID_REPLICATION_FACTOR (38). `validate_only` checks
//! everything without creating. v5+ answers with the partition count and every config.

use std::collections::HashSet;

use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::describe_configs::{SOURCE_DEFAULT, SOURCE_TOPIC};
use super::{Connection, Header, str_bytes};
use crate::broker::validate_topic_name;
use crate::error::{Error, Result};
use crate::log::TopicConfig;
use crate::log::config::TOPIC_CONFIGS;

/// Creates (or validates) each topic.
pub(crate) fn handle(conn: &Connection, h: &Header, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = &conn.shared.broker;
    let mut resp = CreateTopicsResponse::default();
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> =
        req.topics.iter().map(|t| t.name.as_str().to_string()).filter(|n| !seen.insert(n.clone())).collect();
    for t in req.topics {
        let name = t.name.as_str().to_string();
        let mut result = CreatableTopicResult::default();
        result.name = t.name.clone();
        let outcome = (|| -> Result<(i32, TopicConfig)> {
            if duplicates.contains(&name) {
                return Err(Error::InvalidRequest(format!(
                    "topic {name} appears more than once in the request"
                )));
            }
            validate_topic_name(&name)?;
            conn.check_may_write(h, &name)?;
            let partitions = if !t.assignments.is_empty() {
                if t.num_partitions != -1 {
                    return Err(Error::InvalidRequest(
                        "give either num_partitions or replica assignments, not both".to_string(),
                    ));
                }
                t.assignments.len() as i32
            } else if t.num_partitions == -1 {
                broker.config().default_partitions
            } else {
                t.num_partitions
            };
            if partitions < 1 {
                return Err(Error::InvalidPartitions(format!(
                    "{partitions} partitions requested; use at least 1"
                )));
            }
            if t.replication_factor == 0 || t.replication_factor < -1 {
                return Err(Error::InvalidConfig(format!(
                    "replication factor {} is invalid; use 1 (or -1 for the default)",
                    t.replication_factor
                )));
            }
            let config = TopicConfig::from_pairs(t.configs.iter().map(|c| {
                (
                    c.name.as_str().to_string(),
                    c.value.as_ref().map(|v| v.as_str().to_string()).unwrap_or_default(),
                )
            }))?;
            if broker.topic(&name).is_ok() {
                return Err(Error::TopicAlreadyExists(name.clone()));
            }
            if !req.validate_only {
                broker.create_topic(&name, partitions, config.clone())?;
            }
            Ok((partitions, config))
        })();
        match outcome {
            Ok((partitions, config)) => {
                result.num_partitions = partitions;
                result.replication_factor = 1;
                let mut configs = Vec::new();
                for def in TOPIC_CONFIGS {
                    let (value, is_default) = config.get(def.name).unwrap_or((def.default.to_string(), true));
                    let mut c = CreatableTopicConfigs::default();
                    c.name = str_bytes(def.name);
                    c.value = Some(str_bytes(value));
                    c.config_source = if is_default { SOURCE_DEFAULT } else { SOURCE_TOPIC };
                    configs.push(c);
                }
                result.configs = Some(configs);
            }
            Err(e) => {
                result.error_code = match &e {
                    Error::InvalidConfig(m) if m.starts_with("replication factor") => 38,
                    e => e.kafka_code(),
                };
                result.error_message = Some(str_bytes(e.to_string()));
                result.num_partitions = -1;
                result.replication_factor = -1;
                result.configs = None;
            }
        }
        resp.topics.push(result);
    }
    resp
}
