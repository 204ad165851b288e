//! From `CREATE STREAM/TABLE` to a [`SourceDef`]: `WITH` properties, column roles and the
//! checks ksqlDB makes (a table needs a primary key, header columns have fixed types, the
//! formats can carry the columns, …).

use crate::error::{Error, Result};
use crate::format::Format;
use crate::parser::{ColumnConstraint, CreateSource, Literal, Properties, SourceKind, WindowKind};
use crate::types::SqlType;

use super::{Catalog, Column, ColumnRole, KeyWindow, SourceDef};

/// Properties Brook understands in `WITH (…)`.
pub const KNOWN_PROPERTIES: &[&str] = &[
    "KAFKA_TOPIC",
    "FORMAT",
    "KEY_FORMAT",
    "VALUE_FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "RETENTION_MS",
    "CLEANUP_POLICY",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "VALUE_DELIMITER",
    "KEY_DELIMITER",
    "WRAP_SINGLE_VALUE",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
];

/// `WITH (…)` of a source, checked.
#[derive(Debug, Clone, Default)]
pub struct SourceProperties {
    /// `KAFKA_TOPIC`.
    pub topic: Option<String>,
    /// Key format (`KEY_FORMAT` or `FORMAT`).
    pub key_format: Option<Format>,
    /// Value format (`VALUE_FORMAT` or `FORMAT`).
    pub value_format: Option<Format>,
    /// `PARTITIONS`.
    pub partitions: Option<i32>,
    /// `RETENTION_MS`.
    pub retention_ms: Option<i64>,
    /// `CLEANUP_POLICY`.
    pub cleanup_policy: Option<String>,
    /// `TIMESTAMP`.
    pub timestamp: Option<String>,
    /// `TIMESTAMP_FORMAT`.
    pub timestamp_format: Option<String>,
    /// `WRAP_SINGLE_VALUE`.
    pub wrap_single_value: Option<bool>,
    /// `WINDOW_TYPE` / `WINDOW_SIZE` for topics with windowed keys.
    pub window: Option<KeyWindow>,
}

fn text(props: &Properties, name: &str) -> Option<String> {
    props.get(name).map(Literal::as_text)
}

fn number(props: &Properties, name: &str) -> Result<Option<i64>> {
    match props.get(name) {
        None => Ok(None),
        Some(Literal::Number(n)) | Some(Literal::String(n)) => n
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::plan(format!("{name} must be a whole number, not '{n}'"))),
        Some(other) => Err(Error::plan(format!("{name} must be a number, not {other}"))),
    }
}

impl SourceProperties {
    /// Checks and extracts properties.
    pub fn parse(props: &Properties) -> Result<Self> {
        for k in props.keys() {
            if !KNOWN_PROPERTIES.contains(&k.as_str()) {
                return Err(Error::plan(format!(
                    "unknown property {k} in WITH; known properties are {}",
                    KNOWN_PROPERTIES.join(", ")
                )));
            }
        }
        let format = text(props, "FORMAT");
        if format.is_some() && (props.contains_key("KEY_FORMAT") || props.contains_key("VALUE_FORMAT")) {
            return Err(Error::plan(
                "FORMAT sets both KEY_FORMAT and VALUE_FORMAT; give either FORMAT or those two",
            ));
        }
        let value_delim = text(props, "VALUE_DELIMITER");
        let key_delim = text(props, "KEY_DELIMITER");
        let key_format = match text(props, "KEY_FORMAT").or_else(|| format.clone()) {
            Some(f) => Some(Format::parse(&f, key_delim.as_deref())?),
            None => None,
        };
        let value_format = match text(props, "VALUE_FORMAT").or(format) {
            Some(f) => Some(Format::parse(&f, value_delim.as_deref())?),
            None => None,
        };
        if value_format == Some(Format::None) {
            return Err(Error::plan("VALUE_FORMAT cannot be NONE"));
        }
        let partitions = match number(props, "PARTITIONS")? {
            Some(p) if !(1..=100_000).contains(&p) => {
                return Err(Error::plan(format!("PARTITIONS must be between 1 and 100000, not {p}")));
            }
            Some(p) => Some(p as i32),
            None => None,
        };
        if let Some(r) = number(props, "REPLICAS")?
            && r != 1
            && r != -1
        {
            return Err(Error::plan(format!("REPLICAS={r}: a Brook server keeps one replica")));
        }
        let wrap_single_value = match props.get("WRAP_SINGLE_VALUE") {
            None => None,
            Some(Literal::Bool(b)) => Some(*b),
            Some(Literal::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Literal::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(other) => {
                return Err(Error::plan(format!("WRAP_SINGLE_VALUE must be TRUE or FALSE, not {other}")));
            }
        };
        let window = match text(props, "WINDOW_TYPE") {
            None => None,
            Some(t) => {
                let size = number(props, "WINDOW_SIZE")?;
                let kind = match t.to_uppercase().as_str() {
                    "SESSION" => WindowKind::Session { gap: 0 },
                    "TUMBLING" | "HOPPING" => {
                        let size = size.ok_or_else(|| {
                            Error::plan(format!("WINDOW_TYPE={t} needs WINDOW_SIZE (in milliseconds)"))
                        })?;
                        WindowKind::Tumbling { size }
                    }
                    _ => {
                        return Err(Error::plan(format!(
                            "WINDOW_TYPE must be TUMBLING, HOPPING or SESSION, not {t}"
                        )));
                    }
                };
                Some(KeyWindow { kind })
            }
        };
        Ok(SourceProperties {
            topic: text(props, "KAFKA_TOPIC"),
            key_format,
            value_format,
            partitions,
            retention_ms: number(props, "RETENTION_MS")?,
            cleanup_policy: text(props, "CLEANUP_POLICY"),
            timestamp: text(props, "TIMESTAMP").map(|t| t.to_uppercase()),
            timestamp_format: text(props, "TIMESTAMP_FORMAT"),
            wrap_single_value,
            window,
        })
    }

    /// Topic configs implied by the properties.
    pub fn topic_config(&self) -> Vec<(String, String)> {
        let mut c = Vec::new();
        if let Some(r) = self.retention_ms {
            c.push(("retention.ms".to_string(), r.to_string()));
        }
        if let Some(p) = &self.cleanup_policy {
            c.push(("cleanup.policy".to_string(), p.to_lowercase()));
        }
        c
    }
}

/// The type `HEADERS` columns must have.
pub fn headers_type() -> SqlType {
    SqlType::Array(Box::new(SqlType::Struct(vec![
        ("KEY".to_string(), SqlType::String),
        ("VALUE".to_string(), SqlType::Bytes),
    ])))
}

/// Checks a full source definition (columns, formats, timestamp column).
pub fn validate(def: &SourceDef) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for c in &def.columns {
        if !seen.insert(c.name.as_str()) {
            return Err(Error::plan(format!("column {} is defined twice", c.name)));
        }
        if crate::planner::schema::is_pseudo_column(&c.name) {
            return Err(Error::plan(format!(
                "{} is a reserved pseudo-column name; rename the column (or alias it in the query)",
                c.name
            )));
        }
        match &c.role {
            ColumnRole::Headers if c.ty != headers_type() => {
                return Err(Error::plan(format!(
                    "HEADERS column {} must be of type {}, not {}",
                    c.name,
                    headers_type(),
                    c.ty
                )));
            }
            ColumnRole::Header(_) if c.ty != SqlType::Bytes => {
                return Err(Error::plan(format!(
                    "HEADER column {} must be of type BYTES, not {}",
                    c.name, c.ty
                )));
            }
            _ => {}
        }
    }
    if def.columns.iter().filter(|c| c.role == ColumnRole::Headers).count() > 1 {
        return Err(Error::plan("a source can have only one HEADERS column"));
    }
    if def.kind == SourceKind::Table && def.key_columns().next().is_none() {
        return Err(Error::plan(format!(
            "table {} has no PRIMARY KEY column; tables need one (e.g. `id BIGINT PRIMARY KEY`)",
            def.name
        )));
    }
    if def.value_columns().next().is_none()
        && def.kind == SourceKind::Stream
        && def.key_columns().next().is_none()
    {
        return Err(Error::plan(format!("stream {} has no columns", def.name)));
    }
    let keys: Vec<(String, SqlType)> = def.key_columns().map(|c| (c.name.clone(), c.ty.clone())).collect();
    let values: Vec<(String, SqlType)> =
        def.value_columns().map(|c| (c.name.clone(), c.ty.clone())).collect();
    def.key_format.check_columns("key", &keys)?;
    def.value_format.check_columns("value", &values)?;
    if let Some(ts) = &def.timestamp_column {
        let col = def
            .column(ts)
            .ok_or_else(|| Error::plan(format!("TIMESTAMP column {ts} is not a column of {}", def.name)))?;
        match (&col.ty, &def.timestamp_format) {
            (SqlType::Bigint | SqlType::Timestamp, None) => {}
            (SqlType::String, Some(_)) => {}
            (SqlType::String, None) => {
                return Err(Error::plan(format!(
                    "TIMESTAMP column {ts} is a STRING, so TIMESTAMP_FORMAT must say how to read it"
                )));
            }
            (t, _) => {
                return Err(Error::plan(format!(
                    "TIMESTAMP column {ts} must be BIGINT (epoch ms), TIMESTAMP, or STRING with TIMESTAMP_FORMAT, not {t}"
                )));
            }
        }
    }
    Ok(())
}

/// Builds the definition of a `CREATE STREAM/TABLE` (without touching topics).
pub fn source_from_create(
    catalog: &Catalog,
    c: &CreateSource,
    sql: &str,
) -> Result<(SourceDef, SourceProperties)> {
    let props = SourceProperties::parse(&c.properties)?;
    let topic = props.topic.clone().ok_or_else(|| {
        Error::plan(format!(
            "missing KAFKA_TOPIC: CREATE {} needs WITH (KAFKA_TOPIC='…', VALUE_FORMAT='…')",
            c.kind
        ))
    })?;
    if c.columns.is_empty() {
        return Err(Error::plan(format!(
            "{} {} has no columns; Brook needs them declared (no schema registry to infer them from)",
            c.kind.to_string().to_lowercase(),
            c.name
        )));
    }
    let mut columns = Vec::with_capacity(c.columns.len());
    for col in &c.columns {
        let role = match &col.constraint {
            ColumnConstraint::None => ColumnRole::Value,
            ColumnConstraint::Key | ColumnConstraint::PrimaryKey => ColumnRole::Key,
            ColumnConstraint::Headers => ColumnRole::Headers,
            ColumnConstraint::Header(k) => ColumnRole::Header(k.clone()),
        };
        columns.push(Column { name: col.name.clone(), ty: catalog.resolve_type(&col.ty)?, role });
    }
    let key_count = columns.iter().filter(|c| c.role == ColumnRole::Key).count();
    let key_format = match &props.key_format {
        Some(f) => f.clone(),
        // Change events are keyed by key documents (`{"id":1001}`).
        None if props.value_format == Some(Format::DebeziumJson) => Format::DebeziumJson,
        None if key_count > 1 => Format::Json,
        None => Format::Kafka,
    };
    let def = SourceDef {
        name: c.name.clone(),
        kind: c.kind,
        columns,
        topic,
        key_format,
        value_format: props.value_format.clone().unwrap_or(Format::Json),
        wrap_single_value: props.wrap_single_value.unwrap_or(true),
        timestamp_column: props.timestamp.clone(),
        timestamp_format: props.timestamp_format.clone(),
        window: props.window,
        is_source: c.is_source,
        sql: sql.to_string(),
        writer: None,
    };
    validate(&def)?;
    Ok((def, props))
}
