//! Streams and tables: their columns, topic and formats.

use std::fmt;

use crate::format::Format;
use crate::parser::{SourceKind, WindowKind};
use crate::types::SqlType;

/// Where a column's value lives in a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnRole {
    /// In the record key.
    Key,
    /// In the record value.
    Value,
    /// All headers, as `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    Headers,
    /// The last header with this key, as `BYTES`.
    Header(String),
}

impl ColumnRole {
    /// Whether the column is read from (and written to) record headers.
    pub fn is_header(&self) -> bool {
        matches!(self, ColumnRole::Headers | ColumnRole::Header(_))
    }
}

/// A column of a stream or table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// Name (case as normalized by the parser).
    pub name: String,
    /// Type.
    pub ty: SqlType,
    /// Key, value or header.
    pub role: ColumnRole,
}

impl Column {
    /// A value column.
    pub fn value(name: impl Into<String>, ty: SqlType) -> Self {
        Column { name: name.into(), ty, role: ColumnRole::Value }
    }

    /// A key column.
    pub fn key(name: impl Into<String>, ty: SqlType) -> Self {
        Column { name: name.into(), ty, role: ColumnRole::Key }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", crate::types::quote_if_needed(&self.name), self.ty)?;
        match &self.role {
            ColumnRole::Key => f.write_str(" KEY"),
            ColumnRole::Value => Ok(()),
            ColumnRole::Headers => f.write_str(" HEADERS"),
            ColumnRole::Header(k) => write!(f, " HEADER('{k}')"),
        }
    }
}

/// The window of a windowed source's keys (tables written by windowed aggregations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyWindow {
    /// Tumbling, hopping or session.
    pub kind: WindowKind,
}

impl KeyWindow {
    /// Window size for time windows (session windows carry their end in the key).
    pub fn size(&self) -> Option<i64> {
        match self.kind {
            WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => Some(size),
            WindowKind::Session { .. } => None,
        }
    }
}

/// A stream or table registered in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDef {
    /// Name.
    pub name: String,
    /// Stream or table.
    pub kind: SourceKind,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Backing topic.
    pub topic: String,
    /// Key encoding.
    pub key_format: Format,
    /// Value encoding.
    pub value_format: Format,
    /// Whether a single value column is written unwrapped (a bare JSON value or primitive).
    pub wrap_single_value: bool,
    /// Column holding event time instead of the record timestamp.
    pub timestamp_column: Option<String>,
    /// `java.time`-style pattern for a STRING timestamp column.
    pub timestamp_format: Option<String>,
    /// Windowed keys.
    pub window: Option<KeyWindow>,
    /// Read-only (`CREATE SOURCE …`).
    pub is_source: bool,
    /// The statement that created it.
    pub sql: String,
    /// The persistent query writing it (CSAS/CTAS), if any.
    pub writer: Option<String>,
}

impl SourceDef {
    /// Key columns, in order.
    pub fn key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Key)
    }

    /// Value columns, in order.
    pub fn value_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Value)
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether the source is a table.
    pub fn is_table(&self) -> bool {
        self.kind == SourceKind::Table
    }
}
