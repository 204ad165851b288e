//! The `sqlparser` dialect of Brook SQL: ksqlDB's lexical rules.
//!
//! Identifiers may be back-quoted (ksqlDB) or double-quoted (standard SQL); strings are
//! single-quoted with `''` as the escape. `->` is kept as a binary operator so the planner can
//! turn `col->field` into struct field access.

use sqlparser::dialect::Dialect;

/// ksqlDB's lexical rules for `sqlparser`.
#[derive(Debug, Default, Clone, Copy)]
pub struct KsqlDialect;

impl Dialect for KsqlDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        false
    }
}
