//! AlterConfigs (key 33): replaces all config overrides of topics (the non-incremental API:
//! configs not named are reset to their defaults). Broker configs are read-only.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::RESOURCE_TOPIC;
use super::{Connection, Header, str_bytes};
use crate::error::{Error, Result};
use crate::log::TopicConfig;

/// Applies (or with `validate_only`, checks) each resource's new configs.
pub(crate) fn handle(conn: &Connection, h: &Header, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let broker = &conn.shared.broker;
    let mut resp = AlterConfigsResponse::default();
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
            broker.topic(name)?;
            let config = TopicConfig::from_pairs(res.configs.iter().filter_map(|c| {
                c.value.as_ref().map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
            }))?;
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
