//! Connector definitions: a name, a kind and string properties — the `WITH (...)` of
//! `CREATE SOURCE|SINK CONNECTOR`, or a table of a `brook connect run` TOML file — validated
//! into a typed [`ConnectorConfig`].
//!
//! Property names are case-insensitive; unknown names are errors (a typo must not silently
//! fall back to a default). Source properties:
//!
//! | property | default | meaning |
//! |---|---|---|
//! | `connector` | — | `file` |
//! | `path` | — | a file, or a directory whose matching files are read in order |
//! | `format` | — | `debezium_json`, `json` (JSON lines) or `csv` |
//! | `topic` | — | the topic to write (created, with its dead-letter topic, when the connector is created if missing; compacted for `debezium_json`) |
//! | `key` | Debezium key documents / none | primary-key columns, comma-separated (`debezium_json` events with neither are written without a key, to partition 0) |
//! | `partitions` | `1` | partitions of the topic if the connector creates it (also `topic.creation.default.partitions`) |
//! | `topic.creation.default.<config>` | broker defaults | a topic config (`retention.ms`, `cleanup.policy`, …) of the topic if the connector creates it; `….replication.factor` may only be 1 |
//! | `dlq_topic` | `<topic>.dlq` | dead-letter topic for malformed lines |
//! | `errors.tolerance` | `all` | `all`: malformed lines go to the dead-letter topic; `none`: the connector fails at the first one (and is retried from it) |
//! | `pattern` | `*` | file-name pattern in a directory (`*.json`) |
//! | `order` | `name` | `name` or `mtime`: which file comes first |
//! | `mode` | `follow` | `follow` (tail files forever) or `once` (stop at the end of the input) |
//! | `header` | `true` | CSV: the first record of each file holds the column names |
//! | `columns` | from header | CSV: column names, comma-separated |
//! | `delimiter` | `,` | CSV: field delimiter (one character; `\t` for tab) |
//! | `infer_types` | `true` | CSV: unquoted numbers and booleans become JSON numbers and booleans |
//! | `poll_interval_ms` | `200` | how often a caught-up source looks for new data |
//! | `commit_interval_ms` | `1000` | how often the position is committed |
//! | `max_record_bytes` | `1000000` | longer lines go to the dead-letter topic |
//!
//! Sink properties:
//!
//! | property | default | meaning |
//! |---|---|---|
//! | `connector` | — | `file` (JSON lines) or `parquet` |
//! | `path` | — | output directory (created if missing) |
//! | `topic` | — | the topic to read |
//! | `roll_bytes` | `67108864` (`file`), `33554432` (`parquet`) | start a new file after this many bytes |
//! | `roll_interval_ms` | `60000` | start a new file after this long |
//! | `envelope` | `false` | `file`: write `{"topic","partition","offset","timestamp","key","value"}` per line instead of the value |
//! | `mode` | `follow` | `follow`, or `once`: stop after writing everything in the topic |
//! | `poll_interval_ms` | `200` | how often a caught-up sink looks for new records |

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{FileOrder, Pattern};

/// Whether a connector reads into topics or writes out of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// Reads files into a topic.
    Source,
    /// Writes a topic to files.
    Sink,
}

impl ConnectorKind {
    /// `source` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
}

/// A connector as the user defined it: what `CREATE … CONNECTOR` stores and `_brook_connectors`
/// persists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorDefinition {
    /// Unique name.
    pub name: String,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// Properties with lower-case names.
    pub properties: BTreeMap<String, String>,
}

impl ConnectorDefinition {
    /// A definition; validates the name and the properties (see [`ConnectorConfig::parse`]).
    pub fn new<K, V>(
        name: &str,
        kind: ConnectorKind,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ConnectorDefinition>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let valid = !name.is_empty()
            && name.len() <= 200
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(Error::Config(format!(
                "connector name '{name}' is not valid: use 1-200 characters from [a-zA-Z0-9._-]"
            )));
        }
        let mut props = BTreeMap::new();
        for (k, v) in properties {
            let k = k.as_ref().trim().to_ascii_lowercase();
            if props.insert(k.clone(), v.into()).is_some() {
                return Err(Error::Config(format!("property '{k}' is given twice")));
            }
        }
        let def = ConnectorDefinition { name: name.to_string(), kind, properties: props };
        ConnectorConfig::parse(&def)?;
        Ok(def)
    }

    /// The typed configuration.
    pub fn config(&self) -> Result<ConnectorConfig> {
        ConnectorConfig::parse(self)
    }
}

/// The input format of a file source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Debezium change events, one per line, into a table topic.
    DebeziumJson,
    /// JSON lines: each line's JSON document is a record value.
    Json,
    /// CSV: each record becomes a JSON object value.
    Csv,
}

/// Whether a connector stops at the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Follow the input forever (tail files; wait for new records).
    #[default]
    Follow,
    /// Stop at the end of the input (files that do not grow; the topic's current end).
    Once,
}

/// CSV options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first record of each file holds column names.
    pub header: bool,
    /// Column names (overriding the header's).
    pub columns: Option<Vec<String>>,
    /// Field delimiter.
    pub delimiter: u8,
    /// Unquoted numbers and booleans become JSON numbers and booleans.
    pub infer_types: bool,
}

/// A file source's configuration.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// A file or a directory.
    pub path: PathBuf,
    /// Input format.
    pub format: Format,
    /// Output topic.
    pub topic: String,
    /// Primary-key columns (record key); `None`: key documents (Debezium) or null keys.
    pub key: Option<Vec<String>>,
    /// Partitions if the topic is created.
    pub partitions: i32,
    /// What a bad input line does: dead-lettered (`all`) or stops the connector (`none`).
    pub errors_tolerance: ErrorTolerance,
    /// Topic configs if the topic is created (`topic.creation.default.<config>` properties, as
    /// Kafka Connect names them), e.g. `retention.ms`.
    pub topic_configs: Vec<(String, String)>,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// File-name pattern in a directory.
    pub pattern: Pattern,
    /// File order.
    pub order: FileOrder,
    /// Follow or once.
    pub mode: Mode,
    /// CSV options.
    pub csv: CsvOptions,
    /// Poll period when caught up.
    pub poll_interval: Duration,
    /// Commit period.
    pub commit_interval: Duration,
    /// Longest accepted record.
    pub max_record_bytes: usize,
}

/// What a source does with an input line that is not a valid record (Kafka Connect's
/// `errors.tolerance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTolerance {
    /// `none`: the connector fails at the first bad record (and retries from it later).
    None,
    /// `all` (the default): bad records go to the dead-letter topic and the connector goes on.
    All,
}

/// Output format of a file sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkFormat {
    /// JSON lines.
    JsonLines,
    /// Parquet.
    Parquet,
}

/// A file sink's configuration.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Output directory.
    pub path: PathBuf,
    /// Topic to read.
    pub topic: String,
    /// Output format.
    pub format: SinkFormat,
    /// Roll after this many bytes.
    pub roll_bytes: u64,
    /// Roll after this long.
    pub roll_interval: Duration,
    /// JSON lines: one record envelope per line instead of the value.
    pub envelope: bool,
    /// Follow or once.
    pub mode: Mode,
    /// Poll period when caught up.
    pub poll_interval: Duration,
}

/// A validated connector configuration.
#[derive(Debug, Clone)]
pub enum ConnectorConfig {
    /// A file source.
    Source(SourceConfig),
    /// A file sink.
    Sink(SinkConfig),
}

const SOURCE_PROPS: &[&str] = &[
    "connector",
    "path",
    "format",
    "topic",
    "key",
    "partitions",
    "dlq_topic",
    "pattern",
    "order",
    "mode",
    "header",
    "columns",
    "delimiter",
    "infer_types",
    "poll_interval_ms",
    "commit_interval_ms",
    "max_record_bytes",
    "errors.tolerance",
];
/// Prefix of a source's topic-creation properties (Kafka Connect's KIP-158 names):
/// `topic.creation.default.partitions`, `topic.creation.default.replication.factor` (a single
/// broker: 1) and `topic.creation.default.<topic config>`.
const TOPIC_CREATION: &str = "topic.creation.default.";
const SINK_PROPS: &[&str] =
    &["connector", "path", "topic", "roll_bytes", "roll_interval_ms", "envelope", "mode", "poll_interval_ms"];

struct Props<'a> {
    name: &'a str,
    map: &'a BTreeMap<String, String>,
}

impl Props<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|s| s.trim())
    }

    fn required(&self, key: &str, example: &str) -> Result<&str> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::Config(format!("connector '{}' needs '{key}' (e.g. '{key}'='{example}')", self.name))
        })
    }

    fn number<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                Error::Config(format!("'{key}' must be a non-negative whole number, not '{v}'"))
            }),
        }
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "yes" | "1") => Ok(true),
            Some("false" | "no" | "0") => Ok(false),
            Some(v) => Err(Error::Config(format!("'{key}' must be true or false, not '{v}'"))),
        }
    }

    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| v.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
    }

    fn mode(&self) -> Result<Mode> {
        match self.get("mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("follow") => Ok(Mode::Follow),
            Some("once") => Ok(Mode::Once),
            Some(v) => Err(Error::Config(format!("'mode' must be 'follow' or 'once', not '{v}'"))),
        }
    }

    fn check_known(&self, known: &[&str], kind: ConnectorKind) -> Result<()> {
        for k in self.map.keys() {
            let topic_creation = kind == ConnectorKind::Source && k.starts_with(TOPIC_CREATION);
            if !known.contains(&k.as_str()) && !topic_creation {
                return Err(Error::Config(format!(
                    "unknown property '{k}' for a {} connector (known: {})",
                    kind.as_str(),
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

impl ConnectorConfig {
    /// Validates a definition.
    pub fn parse(def: &ConnectorDefinition) -> Result<ConnectorConfig> {
        let p = Props { name: &def.name, map: &def.properties };
        match def.kind {
            ConnectorKind::Source => parse_source(&p).map(ConnectorConfig::Source),
            ConnectorKind::Sink => parse_sink(&p).map(ConnectorConfig::Sink),
        }
    }

    /// The topic the connector writes or reads.
    pub fn topic(&self) -> &str {
        match self {
            ConnectorConfig::Source(s) => &s.topic,
            ConnectorConfig::Sink(s) => &s.topic,
        }
    }

    /// The connector's mode.
    pub fn mode(&self) -> Mode {
        match self {
            ConnectorConfig::Source(s) => s.mode,
            ConnectorConfig::Sink(s) => s.mode,
        }
    }
}

fn validate_topic(topic: &str, what: &str) -> Result<()> {
    brook_broker::broker::validate_topic_name(topic).map_err(|_| {
        Error::Config(format!("'{what}' = '{topic}' is not a valid topic name (use [a-zA-Z0-9._-])"))
    })
}

fn parse_source(p: &Props<'_>) -> Result<SourceConfig> {
    p.check_known(SOURCE_PROPS, ConnectorKind::Source)?;
    let connector = p.required("connector", "file")?.to_ascii_lowercase();
    if connector != "file" {
        return Err(Error::Config(format!(
            "source connector type '{connector}' is not supported; use 'file'"
        )));
    }
    let path = PathBuf::from(p.required("path", "/data/cdc/customers")?);
    let format = match p.required("format", "debezium_json")?.to_ascii_lowercase().as_str() {
        "debezium_json" | "debezium" => Format::DebeziumJson,
        "json" | "jsonl" | "json_lines" => Format::Json,
        "csv" => Format::Csv,
        other => {
            return Err(Error::Config(format!(
                "'format' must be 'debezium_json', 'json' or 'csv', not '{other}'"
            )));
        }
    };
    let topic = p.required("topic", "customers")?.to_string();
    validate_topic(&topic, "topic")?;
    let dlq_topic = p.get("dlq_topic").map_or_else(|| format!("{topic}.dlq"), str::to_string);
    validate_topic(&dlq_topic, "dlq_topic")?;
    if dlq_topic == topic {
        return Err(Error::Config("'dlq_topic' must differ from 'topic'".into()));
    }
    let creation_partitions = format!("{TOPIC_CREATION}partitions");
    let partitions: i32 = match p.get(&creation_partitions) {
        Some(_) => p.number(&creation_partitions, 1)?,
        None => p.number("partitions", 1)?,
    };
    let mut topic_configs = Vec::new();
    for (k, v) in p.map.iter() {
        let Some(config) = k.strip_prefix(TOPIC_CREATION) else { continue };
        match config {
            "partitions" => {}
            "replication.factor" => {
                if !matches!(v.trim(), "1" | "-1") {
                    return Err(Error::Config(format!(
                        "'{k}' must be 1 (or -1, the broker default): a Brook cluster keeps one copy"
                    )));
                }
            }
            "" => return Err(Error::Config(format!("'{k}' names no topic config"))),
            _ => topic_configs.push((config.to_string(), v.trim().to_string())),
        }
    }
    brook_broker::TopicConfig::from_pairs(topic_configs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| Error::Config(format!("topic creation: {e}")))?;
    if !(1..=10_000).contains(&partitions) {
        return Err(Error::Config(format!("'partitions' must be between 1 and 10000, not {partitions}")));
    }
    let order = match p.get("order").map(str::to_ascii_lowercase).as_deref() {
        None | Some("name") => FileOrder::Name,
        Some("mtime" | "modified" | "modification_time") => FileOrder::ModifiedTime,
        Some(v) => return Err(Error::Config(format!("'order' must be 'name' or 'mtime', not '{v}'"))),
    };
    let delimiter = match p.get("delimiter") {
        None => b',',
        Some("\\t" | "tab") => b'\t',
        Some(d) if d.len() == 1 && d != "\"" && d != "\n" => d.as_bytes()[0],
        Some(d) => {
            return Err(Error::Config(format!(
                "'delimiter' must be one ASCII character other than a quote or newline, not '{d}'"
            )));
        }
    };
    let csv = CsvOptions {
        header: p.boolean("header", true)?,
        columns: p.list("columns"),
        delimiter,
        infer_types: p.boolean("infer_types", true)?,
    };
    if format == Format::Csv && !csv.header && csv.columns.is_none() {
        return Err(Error::Config(
            "a CSV source without a header line needs 'columns' (e.g. 'columns'='id,name,email')".into(),
        ));
    }
    let key = p.list("key").filter(|k| !k.is_empty());
    let errors_tolerance = match p.get("errors.tolerance").map(str::to_ascii_lowercase).as_deref() {
        None | Some("all") => ErrorTolerance::All,
        Some("none") => ErrorTolerance::None,
        Some(v) => {
            return Err(Error::Config(format!("'errors.tolerance' must be 'none' or 'all', not '{v}'")));
        }
    };
    Ok(SourceConfig {
        path,
        format,
        topic,
        key,
        partitions,
        topic_configs,
        errors_tolerance,
        dlq_topic,
        pattern: Pattern::new(p.get("pattern").unwrap_or("*")),
        order,
        mode: p.mode()?,
        csv,
        poll_interval: Duration::from_millis(p.number("poll_interval_ms", 200u64)?.max(1)),
        commit_interval: Duration::from_millis(p.number("commit_interval_ms", 1000u64)?.max(1)),
        max_record_bytes: p.number("max_record_bytes", 1_000_000usize)?.clamp(1024, 64 << 20),
    })
}

fn parse_sink(p: &Props<'_>) -> Result<SinkConfig> {
    p.check_known(SINK_PROPS, ConnectorKind::Sink)?;
    let format = match p.required("connector", "parquet")?.to_ascii_lowercase().as_str() {
        "file" | "json" | "jsonl" => SinkFormat::JsonLines,
        "parquet" => SinkFormat::Parquet,
        other => {
            return Err(Error::Config(format!(
                "sink connector type '{other}' is not supported; use 'file' or 'parquet'"
            )));
        }
    };
    let topic = p.required("topic", "orders")?.to_string();
    validate_topic(&topic, "topic")?;
    let default_roll = match format {
        SinkFormat::JsonLines => 64 << 20,
        SinkFormat::Parquet => 32 << 20,
    };
    let envelope = p.boolean("envelope", false)?;
    if envelope && format == SinkFormat::Parquet {
        return Err(Error::Config(
            "'envelope' applies to the 'file' sink only; Parquet files always hold record metadata columns"
                .into(),
        ));
    }
    Ok(SinkConfig {
        path: PathBuf::from(p.required("path", "/data/out")?),
        topic,
        format,
        roll_bytes: p.number("roll_bytes", default_roll)?.max(1),
        roll_interval: Duration::from_millis(p.number("roll_interval_ms", 60_000u64)?.max(1)),
        envelope,
        mode: p.mode()?,
        poll_interval: Duration::from_millis(p.number("poll_interval_ms", 200u64)?.max(1)),
    })
}

/// Reads connector definitions from a TOML document with `[[source]]` and `[[sink]]` tables:
///
/// ```toml
/// [[source]]
/// name = "customers"
/// connector = "file"
/// path = "examples/data/cdc/customers"
/// format = "debezium_json"
/// topic = "inventory.customers"
/// key = ["id"]
///
/// [[sink]]
/// name = "customers-archive"
/// connector = "parquet"
/// path = "out/customers"
/// topic = "inventory.customers"
/// ```
///
/// Values may be strings, integers, booleans or arrays of strings (joined with commas).
pub fn definitions_from_toml(text: &str) -> Result<Vec<ConnectorDefinition>> {
    let doc: toml::Table = text.parse().map_err(|e| Error::Config(format!("not valid TOML: {e}")))?;
    if let Some(other) = doc.keys().find(|k| *k != "source" && *k != "sink") {
        return Err(Error::Config(format!(
            "unknown section [{other}]: connectors are [[source]] and [[sink]] tables"
        )));
    }
    let mut defs = Vec::new();
    // Sources first, so that a `once` run knows its sources before its sinks start.
    for (section, kind) in [("source", ConnectorKind::Source), ("sink", ConnectorKind::Sink)] {
        let Some(value) = doc.get(section) else { continue };
        let tables = value.as_array().ok_or_else(|| {
            Error::Config(format!("write connectors as [[{section}]] (an array of tables)"))
        })?;
        for table in tables {
            let table =
                table.as_table().ok_or_else(|| Error::Config(format!("[[{section}]] must be a table")))?;
            let name = table
                .get("name")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| Error::Config(format!("every [[{section}]] needs name = \"...\"")))?;
            let mut props = Vec::new();
            for (k, v) in table.iter().filter(|(k, _)| k.as_str() != "name") {
                props.push((k.clone(), toml_to_string(name, k, v)?));
            }
            defs.push(ConnectorDefinition::new(name, kind, props)?);
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for d in &defs {
        if !names.insert(d.name.as_str()) {
            return Err(Error::ConnectorExists(d.name.clone()));
        }
    }
    Ok(defs)
}

fn toml_to_string(name: &str, key: &str, v: &toml::Value) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Array(items) => {
            let parts: Result<Vec<String>> = items.iter().map(|i| toml_to_string(name, key, i)).collect();
            parts?.join(",")
        }
        _ => {
            return Err(Error::Config(format!(
                "connector '{name}': '{key}' must be a string, number, boolean or array"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_definitions_validate() {
        let def = ConnectorDefinition::new(
            "customers",
            ConnectorKind::Source,
            [
                ("CONNECTOR", "file"),
                ("path", "/tmp/x"),
                ("format", "debezium_json"),
                ("topic", "c"),
                ("key", "id, org"),
            ],
        )
        .unwrap();
        let ConnectorConfig::Source(s) = def.config().unwrap() else { panic!("a source") };
        assert_eq!(
            (s.format, s.key, s.dlq_topic.as_str()),
            (Format::DebeziumJson, Some(vec!["id".into(), "org".into()]), "c.dlq")
        );
        let err = |props: Vec<(&str, &str)>| {
            ConnectorDefinition::new("x", ConnectorKind::Source, props).unwrap_err().to_string()
        };
        let base = vec![("connector", "file"), ("path", "/p"), ("format", "json"), ("topic", "t")];
        assert!(err(vec![("connector", "file")]).contains("needs 'path'"));
        assert!(err([base.clone(), vec![("formt", "x")]].concat()).contains("unknown property 'formt'"));
        assert!(
            err(vec![("connector", "file"), ("path", "/p"), ("format", "xml"), ("topic", "t")])
                .contains("'format' must be")
        );
        assert!(err([base.clone(), vec![("partitions", "-1")]].concat()).contains("'partitions'"));
        assert!(
            err(vec![
                ("connector", "file"),
                ("path", "/p"),
                ("format", "csv"),
                ("topic", "t"),
                ("header", "false")
            ])
            .contains("needs 'columns'")
        );
        let def = ConnectorDefinition::new(
            "t",
            ConnectorKind::Source,
            [
                base.clone(),
                vec![
                    ("topic.creation.default.partitions", "3"),
                    ("topic.creation.default.retention.ms", "60000"),
                    ("topic.creation.default.replication.factor", "1"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        let ConnectorConfig::Source(s) = def.config().unwrap() else { panic!("a source") };
        assert_eq!((s.partitions, s.topic_configs), (3, vec![("retention.ms".into(), "60000".into())]));
        assert!(
            err([base.clone(), vec![("topic.creation.default.replication.factor", "3")]].concat())
                .contains("keeps one copy")
        );
        assert!(
            err([base.clone(), vec![("topic.creation.default.retention.ms", "soon")]].concat())
                .contains("topic creation")
        );
        assert!(err([base.clone(), vec![("errors.tolerance", "some")]].concat()).contains("'none' or 'all'"));
        assert!(ConnectorDefinition::new("bad name", ConnectorKind::Source, base).is_err());
    }

    #[test]
    fn toml_files() {
        let defs = definitions_from_toml(
            r#"
            [[source]]
            name = "customers"
            connector = "file"
            path = "data"
            format = "csv"
            topic = "c"
            key = ["id", "org"]
            partitions = 3

            [[sink]]
            name = "archive"
            connector = "parquet"
            path = "out"
            topic = "c"
            "#,
        )
        .unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[0].properties["key"], "id,org");
        assert_eq!(defs[0].properties["partitions"], "3");
        assert_eq!(defs[1].kind, ConnectorKind::Sink);
        assert!(
            definitions_from_toml("[[pipe]]\nname='x'").unwrap_err().to_string().contains("unknown section")
        );
        assert!(definitions_from_toml("x = ").is_err());
    }
}
