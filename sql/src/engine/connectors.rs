//! Connector statements: delegated to the installed [`ConnectorHost`].
//!
//! A change-event source created after a `DEBEZIUM_JSON` table over its topic learns the
//! table's key columns from the catalog ([`declared_change_key`]), so it writes keyed records.
//!
//! Connector definitions are not catalog state: the host keeps them (in `brook server`, in
//! the `_brook_connectors` topic), so these statements are not written to the command topic
//! and a restarted engine gets its connectors back from the host, not from a replay.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Engine, State, StatementResult, message};
use crate::catalog::ColumnRole;
use crate::connector::{ConnectorError, ConnectorHost, ConnectorKind, ConnectorSpec};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::parser::CreateConnector;

impl From<ConnectorError> for Error {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Unknown(_) | ConnectorError::Exists(_) => Error::Catalog(e.to_string()),
            ConnectorError::Invalid(m) => Error::Plan(m),
            ConnectorError::Failed(m) => Error::Execution(m),
        }
    }
}

impl Engine {
    /// Installs the host that runs connector statements (`CREATE … CONNECTOR`, `SHOW
    /// CONNECTORS`, …). Without one they fail with an error saying where connectors run.
    pub fn set_connector_host(&self, host: Arc<dyn ConnectorHost>) {
        *self.connector_host.write() = Some(host);
    }

    fn host(&self) -> Result<Arc<dyn ConnectorHost>> {
        self.connector_host.read().clone().ok_or_else(|| {
            Error::Unsupported(
                "connectors run in `brook server` and the embedded `brook sql` shell; this engine has no \
                 connector host (standalone: `brook connect run FILE.toml`)"
                    .into(),
            )
        })
    }

    pub(crate) fn create_connector(&self, st: &State, c: &CreateConnector) -> Result<StatementResult> {
        let host = self.host()?;
        let exists = host.describe(&c.name).is_ok();
        if exists && c.if_not_exists {
            return Ok(message(format!("Connector {} already exists", c.name)));
        }
        if exists {
            return Err(ConnectorError::Exists(c.name.clone()).into());
        }
        let mut properties: BTreeMap<String, String> =
            c.properties.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_text())).collect();
        if c.kind == ConnectorKind::Source
            && !properties.contains_key("key")
            && let Some(key) = declared_change_key(st, &properties)
        {
            properties.insert("key".into(), key);
        }
        host.create(ConnectorSpec { name: c.name.clone(), kind: c.kind, properties })?;
        let kind = match c.kind {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        };
        Ok(message(format!("Created {kind} connector {}", c.name)))
    }

    pub(crate) fn drop_connector(&self, name: &str, if_exists: bool) -> Result<StatementResult> {
        let host = self.host()?;
        match host.drop_connector(name) {
            Ok(()) => Ok(message(format!("Dropped connector \"{name}\""))),
            Err(ConnectorError::Unknown(_)) if if_exists => {
                Ok(message(format!("Connector {name} does not exist")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn show_connectors(&self, kind: Option<ConnectorKind>) -> Result<StatementResult> {
        let mut list = self.host()?.list();
        list.retain(|c| kind.is_none_or(|k| c.kind == k));
        Ok(StatementResult::Connectors(list))
    }

    pub(crate) fn describe_connector(&self, st: &State, name: &str) -> Result<StatementResult> {
        let info = self.host()?.describe(name)?;
        let sources = st
            .catalog
            .sources()
            .filter(|s| s.topic == info.topic)
            .map(|s| s.name.clone())
            .collect::<Vec<_>>();
        Ok(StatementResult::ConnectorDescription { info: Box::new(info), sources })
    }
}

/// For a source connector of change events (`'format'='debezium_json'`) without a `key`: the
/// key columns of a `DEBEZIUM_JSON` table or stream already declared over its topic, as the
/// connector's `key` property (key-document names, in declaration order). The connector then
/// writes keyed records — one partition per key, replays dropped per key — instead of
/// passing the events on without a key.
fn declared_change_key(st: &State, properties: &BTreeMap<String, String>) -> Option<String> {
    let format = properties.get("format")?.trim().to_ascii_lowercase();
    if format != "debezium_json" && format != "debezium" {
        return None;
    }
    let topic = properties.get("topic")?.trim();
    let def = st
        .catalog
        .sources()
        .filter(|s| s.topic == topic && s.value_format == Format::DebeziumJson)
        .find(|s| s.columns.iter().any(|c| c.role == ColumnRole::Key))?;
    let names: Vec<String> = def
        .columns
        .iter()
        .filter(|c| c.role == ColumnRole::Key)
        .map(|c| brook_streams::key_document::field_name(&c.name))
        .collect();
    Some(names.join(","))
}
