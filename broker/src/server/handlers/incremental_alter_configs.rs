//! IncrementalAlterConfigs (key 44): changes individual topic configs.
//!
//! Operations: SET (0), DELETE (1, back to the default), APPEND (2) and SUBTRACT (3) for list
//! configs (`cleanup.policy`). All changes of a resource are validated together and applied
//! atomically.

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::describe_configs::{RESOURCE_TOPIC, config_type};
use super::{Connection, Header, str_bytes};
use crate::error::{Error, Result};
use crate::log::TopicConfig;

/// Applies (or with `validate_only`, checks) each resource's changes.
pub(crate) fn handle(
    conn: &Connection,
    h: &Header,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = &conn.shared.broker;
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut r = AlterConfigsResourceResponse::default();
        let outcome = (|| -> Result<()> {
            if res.resource_type != RESOURCE_TOPIC {
                return Err(Error::InvalidRequest(format!(
                    "only topic configs (resource type 2) can be altered, not type {}",
                    res.resource_type
                )));
            }
            let name = res.resource_name.as_str();
            conn.check_may_write(h, name)?;
            let mut config = broker.topic(name)?.config();
            for c in &res.configs {
                let key = c.name.as_str().to_string();
                let value = c.value.as_ref().map(|v| v.as_str().to_string());
                match c.config_operation {
                    0 => {
                        let v = value
                            .ok_or_else(|| Error::InvalidConfig(format!("SET of {key} needs a value")))?;
                        config.overrides.insert(key, v);
                    }
                    1 => {
                        config.overrides.remove(&key);
                    }
                    op @ (2 | 3) => {
                        if config_type(&key) != 7 {
                            return Err(Error::InvalidConfig(format!(
                                "{key} is not a list; APPEND/SUBTRACT need a list config"
                            )));
                        }
                        let v = value.unwrap_or_default();
                        let current = config.get(&key).map(|(v, _)| v).unwrap_or_default();
                        let mut items: Vec<String> = current
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect();
                        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if op == 2 && !items.iter().any(|i| i == item) {
                                items.push(item.to_string());
                            } else if op == 3 {
                                items.retain(|i| i != item);
                            }
                        }
                        config.overrides.insert(key, items.join(","));
                    }
                    other => return Err(Error::InvalidRequest(format!("unknown config operation {other}"))),
                }
            }
            let config = TopicConfig { overrides: config.overrides };
            config.resolve()?;
            if req.validate_only { Ok(()) } else { broker.replace_topic_config(name, config) }
        })();
        if let Err(e) = outcome {
            r.error_code = e.kafka_code();
            r.error_message = Some(str_bytes(e.to_string()));
        }
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        resp.responses.push(r);
    }
    resp
}
