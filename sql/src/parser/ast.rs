//! The statements of Brook SQL (ksqlDB's dialect) as a syntax tree.
//!
//! Expressions and select items are `sqlparser`'s own types, so that DataFusion can plan them;
//! everything around them — statement shapes, windows, `WITHIN`, `EMIT`, `PARTITION BY`,
//! properties — is defined here. Names are already normalized: unquoted identifiers are
//! upper-cased, back-quoted ones keep their case.

use std::collections::BTreeMap;
use std::fmt;

use sqlparser::ast::{Expr, SelectItem};

use crate::types::SqlType;

/// A statement with the text it was parsed from.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The statement.
    pub statement: Statement,
    /// Its text (after variable substitution), without the trailing `;`.
    pub text: String,
}

/// Streams and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// An unbounded sequence of independent events.
    Stream,
    /// The latest value per primary key.
    Table,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

/// A literal in a `WITH (…)` list or a `SET`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`
    String(String),
    /// A number as written.
    Number(String),
    /// `TRUE` / `FALSE`
    Bool(bool),
}

impl Literal {
    /// The value as text (numbers as written).
    pub fn as_text(&self) -> String {
        match self {
            Literal::String(s) | Literal::Number(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Number(n) => f.write_str(n),
            Literal::Bool(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
        }
    }
}

/// `WITH (name = literal, …)`, names upper-cased.
pub type Properties = BTreeMap<String, Literal>;

/// A column type as written: a built-in type or the name of a `CREATE TYPE` alias.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeSpec {
    /// A built-in type (possibly nested types that are themselves aliases are resolved later).
    Builtin(SqlType),
    /// `ARRAY<…>` with an element that may be an alias.
    Array(Box<TypeSpec>),
    /// `MAP<…, …>` whose types may be aliases.
    Map(Box<TypeSpec>, Box<TypeSpec>),
    /// `STRUCT<…>` whose fields may be aliases.
    Struct(Vec<(String, TypeSpec)>),
    /// A custom type name.
    Named(String),
}

/// What a column of `CREATE STREAM/TABLE` is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnConstraint {
    /// A value column.
    None,
    /// `KEY` (streams).
    Key,
    /// `PRIMARY KEY` (tables).
    PrimaryKey,
    /// `HEADERS`: all headers, as `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    Headers,
    /// `HEADER('k')`: the last header with key `k`, as `BYTES`.
    Header(String),
}

/// A column definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Its type.
    pub ty: TypeSpec,
    /// Key, header or value.
    pub constraint: ColumnConstraint,
}

/// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (…)`.
#[derive(Debug, Clone)]
pub struct CreateSource {
    /// Stream or table.
    pub kind: SourceKind,
    /// Name.
    pub name: String,
    /// `OR REPLACE`.
    pub or_replace: bool,
    /// `SOURCE` (read-only, materialized).
    pub is_source: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Columns (may be empty only with schema inference, which Brook does not do).
    pub columns: Vec<ColumnDef>,
    /// `WITH` properties.
    pub properties: Properties,
}

/// `CREATE STREAM|TABLE name [WITH (…)] AS SELECT …`.
#[derive(Debug, Clone)]
pub struct CreateAsSelect {
    /// Stream or table.
    pub kind: SourceKind,
    /// Name of the new source.
    pub name: String,
    /// `OR REPLACE`.
    pub or_replace: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `WITH` properties of the sink.
    pub properties: Properties,
    /// The query.
    pub query: Query,
}

/// Time units of window and join sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Milliseconds.
    pub millis: i64,
}

/// `WINDOW TUMBLING|HOPPING|SESSION (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowExpr {
    /// Window kind and sizes.
    pub kind: WindowKind,
    /// `RETENTION n unit`.
    pub retention: Option<i64>,
    /// `GRACE PERIOD n unit`.
    pub grace: Option<i64>,
}

/// The window kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed-size, non-overlapping windows.
    Tumbling {
        /// Size in ms.
        size: i64,
    },
    /// Fixed-size windows starting every `advance` ms.
    Hopping {
        /// Size in ms.
        size: i64,
        /// Advance in ms.
        advance: i64,
    },
    /// Per-key sessions closed by `gap` ms of inactivity.
    Session {
        /// Inactivity gap in ms.
        gap: i64,
    },
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowKind::Tumbling { .. } => f.write_str("TUMBLING"),
            WindowKind::Hopping { .. } => f.write_str("HOPPING"),
            WindowKind::Session { .. } => f.write_str("SESSION"),
        }
    }
}

/// Join types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// `[INNER] JOIN`
    Inner,
    /// `LEFT [OUTER] JOIN`
    Left,
    /// `RIGHT [OUTER] JOIN`
    Right,
    /// `FULL [OUTER] JOIN`
    Full,
}

/// A stream, table or alias in `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Source name.
    pub name: String,
    /// Alias (`FROM orders o`), upper-cased.
    pub alias: Option<String>,
}

impl Relation {
    /// The name columns are qualified with.
    pub fn qualifier(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// `… JOIN rel [WITHIN …] [GRACE PERIOD …] ON expr`.
#[derive(Debug, Clone)]
pub struct Join {
    /// Join type.
    pub join_type: JoinType,
    /// Right side.
    pub relation: Relation,
    /// `WITHIN before/after` (ms), for stream-stream joins.
    pub within: Option<(i64, i64)>,
    /// `GRACE PERIOD` of the join window.
    pub grace: Option<i64>,
    /// The join condition.
    pub on: Expr,
}

/// `EMIT CHANGES` or `EMIT FINAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Every change (push query / continuous output).
    Changes,
    /// Only final window results.
    Final,
}

/// A `SELECT`.
#[derive(Debug, Clone)]
pub struct Query {
    /// Select list.
    pub projection: Vec<SelectItem>,
    /// `FROM` source.
    pub from: Relation,
    /// Joins, left to right.
    pub joins: Vec<Join>,
    /// `WINDOW …`.
    pub window: Option<WindowExpr>,
    /// `WHERE`.
    pub selection: Option<Expr>,
    /// `GROUP BY`.
    pub group_by: Vec<Expr>,
    /// `PARTITION BY`.
    pub partition_by: Vec<Expr>,
    /// `HAVING`.
    pub having: Option<Expr>,
    /// `EMIT …` (absent: a pull query, or a persistent query's default).
    pub emit: Option<Emit>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
}

/// What `SHOW`/`LIST` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowTarget {
    /// Streams.
    Streams,
    /// Tables.
    Tables,
    /// Topics (`ALL` includes internal ones).
    Topics {
        /// `ALL`.
        all: bool,
    },
    /// Persistent queries.
    Queries,
    /// Functions.
    Functions,
    /// Session and server properties.
    Properties,
    /// Custom types.
    Types,
    /// Variables.
    Variables,
    /// Connectors (`SHOW [SOURCE|SINK] CONNECTORS`).
    Connectors {
        /// Only sources or only sinks.
        kind: Option<crate::connector::ConnectorKind>,
    },
}

/// `CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateConnector {
    /// Source or sink.
    pub kind: crate::connector::ConnectorKind,
    /// Connector name (case preserved).
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `WITH (…)`, property names upper-cased.
    pub properties: Properties,
}

/// `PRINT topic …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Print {
    /// Topic name (case preserved).
    pub topic: String,
    /// `FROM BEGINNING`.
    pub from_beginning: bool,
    /// `INTERVAL n`: print every n-th record.
    pub interval: Option<u64>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
}

/// A statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE STREAM/TABLE` over a topic.
    CreateSource(CreateSource),
    /// `CREATE STREAM/TABLE … AS SELECT`.
    CreateAsSelect(CreateAsSelect),
    /// `INSERT INTO name SELECT …`.
    InsertSelect {
        /// Target stream.
        target: String,
        /// The query.
        query: Query,
    },
    /// `INSERT INTO name [(cols)] VALUES (…)`.
    InsertValues {
        /// Target stream or table.
        target: String,
        /// Column list, if given.
        columns: Option<Vec<String>>,
        /// Values.
        values: Vec<Expr>,
    },
    /// `SELECT …` (push with `EMIT`, pull without).
    Select(Query),
    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`.
    Drop {
        /// Stream or table.
        kind: SourceKind,
        /// Name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `DELETE TOPIC`.
        delete_topic: bool,
    },
    /// `SHOW|LIST …`.
    Show {
        /// What.
        target: ShowTarget,
        /// `EXTENDED`.
        extended: bool,
    },
    /// `DESCRIBE name [EXTENDED]`.
    Describe {
        /// Source name.
        name: String,
        /// `EXTENDED`.
        extended: bool,
    },
    /// `DESCRIBE STREAMS|TABLES [EXTENDED]`.
    DescribeAll {
        /// Streams or tables.
        kind: SourceKind,
        /// `EXTENDED`.
        extended: bool,
    },
    /// `DESCRIBE FUNCTION name`.
    DescribeFunction(String),
    /// `PRINT …`.
    Print(Print),
    /// `EXPLAIN statement`.
    Explain(Box<Parsed>),
    /// `EXPLAIN query_id`.
    ExplainQuery(String),
    /// `TERMINATE query_id | ALL`.
    Terminate(Option<String>),
    /// `PAUSE query_id | ALL`.
    Pause(Option<String>),
    /// `RESUME query_id | ALL`.
    Resume(Option<String>),
    /// `SET 'name' = 'value'`.
    Set {
        /// Property name.
        name: String,
        /// Value.
        value: String,
    },
    /// `UNSET 'name'`.
    Unset(String),
    /// `DEFINE name = 'value'`.
    Define {
        /// Variable name (case preserved).
        name: String,
        /// Value.
        value: String,
    },
    /// `UNDEFINE name`.
    Undefine(String),
    /// `RUN SCRIPT 'path'`.
    RunScript(String),
    /// `CREATE TYPE [IF NOT EXISTS] name AS type`.
    CreateType {
        /// Type name.
        name: String,
        /// Definition.
        ty: TypeSpec,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP TYPE [IF EXISTS] name`.
    DropType {
        /// Type name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (…)`.
    CreateConnector(CreateConnector),
    /// `DROP CONNECTOR [IF EXISTS] name`.
    DropConnector {
        /// Connector name (case preserved).
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `DESCRIBE CONNECTOR name`.
    DescribeConnector(String),
    /// `ALTER STREAM|TABLE name ADD COLUMN col type, …`.
    Alter {
        /// Stream or table.
        kind: SourceKind,
        /// Name.
        name: String,
        /// Columns to add.
        columns: Vec<ColumnDef>,
    },
}

impl Statement {
    /// A short name of the statement kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Statement::CreateSource(c) if c.kind == SourceKind::Stream => "CREATE STREAM",
            Statement::CreateSource(_) => "CREATE TABLE",
            Statement::CreateAsSelect(c) if c.kind == SourceKind::Stream => "CREATE STREAM AS SELECT",
            Statement::CreateAsSelect(_) => "CREATE TABLE AS SELECT",
            Statement::InsertSelect { .. } => "INSERT INTO … SELECT",
            Statement::InsertValues { .. } => "INSERT INTO … VALUES",
            Statement::Select(_) => "SELECT",
            Statement::Drop { .. } => "DROP",
            Statement::Show { .. } => "SHOW",
            Statement::Describe { .. } | Statement::DescribeAll { .. } | Statement::DescribeFunction(_) => {
                "DESCRIBE"
            }
            Statement::Print(_) => "PRINT",
            Statement::Explain(_) | Statement::ExplainQuery(_) => "EXPLAIN",
            Statement::Terminate(_) => "TERMINATE",
            Statement::Pause(_) => "PAUSE",
            Statement::Resume(_) => "RESUME",
            Statement::Set { .. } => "SET",
            Statement::Unset(_) => "UNSET",
            Statement::Define { .. } => "DEFINE",
            Statement::Undefine(_) => "UNDEFINE",
            Statement::RunScript(_) => "RUN SCRIPT",
            Statement::CreateType { .. } => "CREATE TYPE",
            Statement::DropType { .. } => "DROP TYPE",
            Statement::Alter { .. } => "ALTER",
            Statement::CreateConnector(c) if c.kind == crate::connector::ConnectorKind::Source => {
                "CREATE SOURCE CONNECTOR"
            }
            Statement::CreateConnector(_) => "CREATE SINK CONNECTOR",
            Statement::DropConnector { .. } => "DROP CONNECTOR",
            Statement::DescribeConnector(_) => "DESCRIBE CONNECTOR",
        }
    }
}
