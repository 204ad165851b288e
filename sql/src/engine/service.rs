//! What a SQL service calls its things in the cluster: the command topic, and the application
//! ids (consumer groups, internal-topic prefixes, state directories) of its queries.
//!
//! Engines with the same service id (ksqlDB's `ksql.service.id`) on one cluster are one
//! service: they share the command topic, hence the catalog, and the consumer groups of
//! persistent queries, hence the work. Engines with different ids on one cluster do not see
//! each other. Without an id, the names are those Brook always used (`_brook_commands`,
//! `_brook_query_<ID>`), so existing data directories keep their catalog.

use crate::error::{Error, Result};

/// The names of one SQL service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNames {
    /// `_brook_` or `_brook_<service id>_`.
    prefix: String,
}

impl Default for ServiceNames {
    fn default() -> Self {
        ServiceNames { prefix: "_brook_".to_string() }
    }
}

impl ServiceNames {
    /// The names of service `id` (`None`: the default service). An id is 1 to 100 letters,
    /// digits, `.`, `_` or `-`, as it becomes part of topic names.
    pub fn new(id: Option<&str>) -> Result<Self> {
        let Some(id) = id else { return Ok(ServiceNames::default()) };
        let valid = !id.is_empty()
            && id.len() <= 100
            && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(Error::plan(format!(
                "invalid service id '{id}': use 1 to 100 letters, digits, '.', '_' or '-'"
            )));
        }
        Ok(ServiceNames { prefix: format!("_brook_{id}_") })
    }

    /// The service id as `/info` reports it (ksqlDB's `ksqlServiceId`).
    pub fn service_id(&self) -> &str {
        match self.prefix.strip_prefix("_brook_").and_then(|s| s.strip_suffix('_')) {
            Some(id) if !id.is_empty() => id,
            _ => "brook_",
        }
    }

    /// The command topic: the service's catalog.
    pub fn command_topic(&self) -> String {
        format!("{}commands", self.prefix)
    }

    /// The processing log's topic unless `ksql.logging.processing.topic.name` says otherwise:
    /// `<service id>processing_log`, as ksqlDB names it `<service id>ksql_processing_log` —
    /// `brook_processing_log` for the default service, `<id>_processing_log` for another.
    pub fn processing_log_topic(&self) -> String {
        match self.service_id() {
            id if id.ends_with('_') => format!("{id}processing_log"),
            id => format!("{id}_processing_log"),
        }
    }

    /// Application id of persistent query `query_id`.
    pub fn query_application(&self, query_id: &str) -> String {
        format!("{}query_{query_id}", self.prefix)
    }

    /// Application id of a push query (`instance` tells this process's from earlier ones').
    pub fn transient_application(&self, id: &str, instance: &str) -> String {
        if instance.is_empty() {
            format!("{}transient_{id}", self.prefix)
        } else {
            format!("{}transient_{id}_{instance}", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_service_keeps_brooks_names_and_others_get_their_own() {
        let default = ServiceNames::new(None).unwrap();
        assert_eq!(default.command_topic(), "_brook_commands");
        assert_eq!(default.query_application("CTAS_X_1"), "_brook_query_CTAS_X_1");
        assert_eq!(default.service_id(), "brook_");
        assert_eq!(default.processing_log_topic(), crate::compile::PROCESSING_LOG_TOPIC);
        let orders = ServiceNames::new(Some("orders-team")).unwrap();
        assert_eq!(orders.command_topic(), "_brook_orders-team_commands");
        assert_eq!(orders.query_application("CTAS_X_1"), "_brook_orders-team_query_CTAS_X_1");
        assert_eq!(orders.transient_application("t_1", "ab"), "_brook_orders-team_transient_t_1_ab");
        assert_eq!(orders.service_id(), "orders-team");
        assert_eq!(orders.processing_log_topic(), "orders-team_processing_log");
        for bad in ["", "a b", "x/y", &"z".repeat(101)] {
            assert!(ServiceNames::new(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
