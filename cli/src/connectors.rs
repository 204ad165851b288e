//! The SQL engine's connector host: `CREATE SOURCE|SINK CONNECTOR`, `DROP CONNECTOR`,
//! `SHOW CONNECTORS` and `DESCRIBE CONNECTOR` run on a [`ConnectorManager`] over the
//! engine's cluster (the embedded broker, or a remote cluster).
//!
//! `brook server` and the embedded `brook sql` shell open the manager in server mode
//! ([`ConnectorManager::open`]): definitions live in the `_brook_connectors` topic and every
//! stored connector starts again when the data directory is opened, resuming from its
//! committed position. This module is the only place that knows both `brook-sql` and
//! `brook-connect`.

use std::sync::Arc;

use anyhow::Context;
use brook_connect::{ConnectorDefinition, ConnectorManager, ConnectorStatus};
use brook_sql::Engine;
use brook_sql::connector::{
    ConnectorCounters, ConnectorError, ConnectorHost, ConnectorInfo, ConnectorKind, ConnectorSpec,
};

/// A [`ConnectorHost`] backed by a [`ConnectorManager`].
pub struct ManagerHost(pub Arc<ConnectorManager>);

/// Opens the connector manager on the engine's cluster (restarting stored connectors) and
/// installs it in `engine`. Call [`ConnectorManager::shutdown`] on the result before closing
/// the broker.
pub fn install(engine: &Engine) -> anyhow::Result<Arc<ConnectorManager>> {
    let manager =
        Arc::new(ConnectorManager::open(engine.cluster().clone()).context("starting the stored connectors")?);
    engine.set_connector_host(Arc::new(ManagerHost(manager.clone())));
    Ok(manager)
}

fn error(e: brook_connect::Error) -> ConnectorError {
    match e {
        brook_connect::Error::UnknownConnector(n) => ConnectorError::Unknown(n),
        brook_connect::Error::ConnectorExists(n) => ConnectorError::Exists(n),
        brook_connect::Error::Config(m) => ConnectorError::Invalid(m),
        other => ConnectorError::Failed(other.to_string()),
    }
}

fn info(s: ConnectorStatus) -> ConnectorInfo {
    let kind = match s.kind {
        brook_connect::ConnectorKind::Source => ConnectorKind::Source,
        brook_connect::ConnectorKind::Sink => ConnectorKind::Sink,
    };
    let dlq_topic = (kind == ConnectorKind::Source)
        .then(|| s.properties.get("dlq_topic").cloned().unwrap_or_else(|| format!("{}.dlq", s.topic)));
    let m = s.metrics;
    ConnectorInfo {
        name: s.name,
        kind,
        class: s.connector,
        topic: s.topic,
        path: s.path,
        format: s.format,
        dlq_topic,
        state: s.state.to_string(),
        counters: ConnectorCounters {
            records_in: m.records_in,
            records_out: m.records_out,
            dead_lettered: m.dlq,
            skipped: m.skipped,
            duplicates: m.duplicates,
            bytes_in: m.bytes_in,
            files_seen: m.files_seen,
            files_done: m.files_done,
        },
        last_error: s.last_error,
        properties: s.properties,
    }
}

impl ConnectorHost for ManagerHost {
    fn create(&self, spec: ConnectorSpec) -> Result<(), ConnectorError> {
        let kind = match spec.kind {
            ConnectorKind::Source => brook_connect::ConnectorKind::Source,
            ConnectorKind::Sink => brook_connect::ConnectorKind::Sink,
        };
        let def = ConnectorDefinition::new(&spec.name, kind, spec.properties).map_err(error)?;
        self.0.create(def).map_err(error)
    }

    fn drop_connector(&self, name: &str) -> Result<(), ConnectorError> {
        self.0.drop_connector(name).map_err(error)
    }

    fn list(&self) -> Vec<ConnectorInfo> {
        self.0.list().into_iter().map(info).collect()
    }

    fn describe(&self, name: &str) -> Result<ConnectorInfo, ConnectorError> {
        self.0.describe(name).map(info).map_err(error)
    }
}
