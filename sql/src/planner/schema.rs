//! The schema of the batches flowing between operators.
//!
//! Every batch carries, besides the user's columns, the pseudo-columns `ROWTIME` (event time,
//! BIGINT ms), `ROWPARTITION` and `ROWOFFSET`, `WINDOWSTART`/`WINDOWEND` for windowed
//! relations, and — for tables — a hidden `__TOMBSTONE` flag: a table batch is a batch of
//! changes, and a tombstone row deletes its key.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, TableReference};

use crate::catalog::{ColumnRole, SourceDef};
use crate::error::Result;
use crate::parser::{SourceKind, WindowKind};
use crate::types::SqlType;

/// Event time pseudo-column.
pub const ROWTIME: &str = "ROWTIME";
/// Source partition pseudo-column.
pub const ROWPARTITION: &str = "ROWPARTITION";
/// Source offset pseudo-column.
pub const ROWOFFSET: &str = "ROWOFFSET";
/// Window start pseudo-column.
pub const WINDOWSTART: &str = "WINDOWSTART";
/// Window end pseudo-column.
pub const WINDOWEND: &str = "WINDOWEND";
/// Hidden tombstone flag of table batches.
pub const TOMBSTONE: &str = "__TOMBSTONE";
/// Hidden flag of table-aggregation input rows: the row's previous version (its `__O*`
/// columns) is taken out of the group.
pub const RETRACT: &str = "__RETRACT";
/// Hidden flag of table-aggregation input rows: the row's new version is put into the group.
pub const ADD: &str = "__ADD";

/// Whether a name is reserved for a pseudo-column.
pub fn is_pseudo_column(name: &str) -> bool {
    matches!(name, ROWTIME | ROWPARTITION | ROWOFFSET | WINDOWSTART | WINDOWEND | TOMBSTONE)
}

/// What a field of a relation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRole {
    /// A user column (its role in the source record).
    Column(ColumnRole),
    /// `ROWTIME`, `ROWPARTITION`, `ROWOFFSET`, `WINDOWSTART`, `WINDOWEND`.
    Pseudo,
    /// Internal (`__TOMBSTONE`, intermediate columns).
    Hidden,
}

/// A field of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct RelField {
    /// Source alias qualifying the field, if any.
    pub qualifier: Option<String>,
    /// Name.
    pub name: String,
    /// Arrow type (canonical for user columns).
    pub data_type: DataType,
    /// Role.
    pub role: FieldRole,
}

impl RelField {
    /// A user column field.
    pub fn column(qualifier: Option<&str>, name: &str, ty: &SqlType, role: ColumnRole) -> Self {
        RelField {
            qualifier: qualifier.map(str::to_string),
            name: name.to_string(),
            data_type: ty.to_arrow(),
            role: FieldRole::Column(role),
        }
    }

    /// A pseudo-column field.
    pub fn pseudo(qualifier: Option<&str>, name: &str, data_type: DataType) -> Self {
        RelField {
            qualifier: qualifier.map(str::to_string),
            name: name.to_string(),
            data_type,
            role: FieldRole::Pseudo,
        }
    }

    /// A hidden field.
    pub fn hidden(name: &str, data_type: DataType) -> Self {
        RelField { qualifier: None, name: name.to_string(), data_type, role: FieldRole::Hidden }
    }
}

/// The schema of a relation: fields in batch order, plus what kind of relation it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RelSchema {
    /// Fields, in column order of the batches.
    pub fields: Vec<RelField>,
    /// Stream (independent events) or table (changes keyed by the key columns).
    pub kind: SourceKind,
    /// Window of the keys, for windowed relations.
    pub window: Option<WindowKind>,
}

impl RelSchema {
    /// Positions of the user columns (not ROWTIME, window bounds or the tombstone flag), in
    /// order.
    pub fn user_columns(&self) -> Vec<usize> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.role, FieldRole::Column(_)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The Arrow schema of the batches.
    pub fn arrow(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields.iter().map(|f| Field::new(&f.name, f.data_type.clone(), true)).collect::<Vec<_>>(),
        ))
    }

    /// The DataFusion schema used to plan expressions over the batches.
    pub fn df_schema(&self) -> Result<DFSchema> {
        let fields: Vec<(Option<TableReference>, Arc<Field>)> = self
            .fields
            .iter()
            .map(|f| {
                (
                    f.qualifier.as_ref().map(|q| TableReference::bare(q.as_str())),
                    Arc::new(Field::new(&f.name, f.data_type.clone(), true)),
                )
            })
            .collect();
        Ok(DFSchema::new_with_metadata(fields, Default::default())?)
    }

    /// Index of the unqualified field `name` (first match).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Index of `ROWTIME`.
    pub fn rowtime(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.name == ROWTIME && f.role == FieldRole::Pseudo)
    }

    /// Index of the tombstone flag (tables).
    pub fn tombstone(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.name == TOMBSTONE && f.role == FieldRole::Hidden)
    }

    /// Indexes of key columns.
    pub fn key_indexes(&self) -> Vec<usize> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.role == FieldRole::Column(ColumnRole::Key))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indexes of `WINDOWSTART` and `WINDOWEND`.
    pub fn window_indexes(&self) -> Option<(usize, usize)> {
        let ws = self.fields.iter().position(|f| f.name == WINDOWSTART && f.role == FieldRole::Pseudo)?;
        let we = self.fields.iter().position(|f| f.name == WINDOWEND && f.role == FieldRole::Pseudo)?;
        Some((ws, we))
    }

    /// The batch schema of a source, as read from its topic, with columns qualified by
    /// `qualifier`.
    pub fn of_source(def: &SourceDef, qualifier: &str) -> RelSchema {
        let q = Some(qualifier);
        let mut fields: Vec<RelField> =
            def.columns.iter().map(|c| RelField::column(q, &c.name, &c.ty, c.role.clone())).collect();
        fields.push(RelField::pseudo(q, ROWTIME, DataType::Int64));
        fields.push(RelField::pseudo(q, ROWPARTITION, DataType::Int32));
        fields.push(RelField::pseudo(q, ROWOFFSET, DataType::Int64));
        if def.window.is_some() {
            fields.push(RelField::pseudo(q, WINDOWSTART, DataType::Int64));
            fields.push(RelField::pseudo(q, WINDOWEND, DataType::Int64));
        }
        if def.kind == SourceKind::Table {
            fields.push(RelField::hidden(TOMBSTONE, DataType::Boolean));
        }
        RelSchema { fields, kind: def.kind, window: def.window.map(|w| w.kind) }
    }
}
