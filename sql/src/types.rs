//! SQL column types (ksqlDB's type system) and their Arrow representation.
//!
//! | SQL | Arrow |
//! |---|---|
//! | `BOOLEAN` | `Boolean` |
//! | `INT` / `INTEGER` | `Int32` |
//! | `BIGINT` | `Int64` |
//! | `DOUBLE` | `Float64` |
//! | `DECIMAL(p, s)` | `Decimal128(p, s)` |
//! | `STRING` / `VARCHAR` | `Utf8` |
//! | `BYTES` | `Binary` |
//! | `TIMESTAMP` | `Timestamp(Millisecond, None)` |
//! | `DATE` | `Date32` |
//! | `TIME` | `Time32(Millisecond)` |
//! | `ARRAY<T>` | `List(T)` |
//! | `MAP<K, V>` | `Map(entries: Struct(key K, value V))` |
//! | `STRUCT<f T, …>` | `Struct(f T, …)` |
//!
//! Every value computed by DataFusion is cast back to one of these canonical Arrow types before
//! it is encoded, so formats only ever see this table.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::error::{Error, Result};

/// A column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// `BOOLEAN`
    Boolean,
    /// `INT` (32-bit)
    Int,
    /// `BIGINT` (64-bit)
    Bigint,
    /// `DOUBLE`
    Double,
    /// `DECIMAL(precision, scale)`
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// `STRING`
    String,
    /// `BYTES`
    Bytes,
    /// `TIMESTAMP` (milliseconds since the epoch, no time zone)
    Timestamp,
    /// `DATE` (days since the epoch)
    Date,
    /// `TIME` (milliseconds since midnight)
    Time,
    /// `ARRAY<T>`
    Array(Box<SqlType>),
    /// `MAP<K, V>`
    Map(Box<SqlType>, Box<SqlType>),
    /// `STRUCT<name T, …>`
    Struct(Vec<(String, SqlType)>),
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} {t}", quote_if_needed(n))?;
                }
                f.write_str(">")
            }
        }
    }
}

/// Back-quotes an identifier unless it is a plain upper-case word (ksqlDB's display rule).
pub fn quote_if_needed(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_string() } else { format!("`{}`", name.replace('`', "``")) }
}

impl SqlType {
    /// The canonical Arrow type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::Int => DataType::Int32,
            SqlType::Bigint => DataType::Int64,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::String => DataType::Utf8,
            SqlType::Bytes => DataType::Binary,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
            SqlType::Array(t) => DataType::List(Arc::new(Field::new("item", t.to_arrow(), true))),
            SqlType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(), false),
                        Field::new("value", v.to_arrow(), true),
                    ])),
                    false,
                )),
                false,
            ),
            SqlType::Struct(fields) => DataType::Struct(Fields::from(
                fields.iter().map(|(n, t)| Field::new(n, t.to_arrow(), true)).collect::<Vec<_>>(),
            )),
        }
    }

    /// The SQL type of an Arrow type computed by an expression (the inverse of
    /// [`SqlType::to_arrow`], widening where SQL has fewer types).
    pub fn from_arrow(dt: &DataType) -> Result<SqlType> {
        Ok(match dt {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
                SqlType::Int
            }
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Bigint,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => SqlType::Double,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                SqlType::Decimal { precision: (*p).min(38), scale: *s }
            }
            DataType::Decimal256(p, s) => SqlType::Decimal { precision: (*p).min(38), scale: *s },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::String,
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => SqlType::Bytes,
            DataType::Timestamp(..) => SqlType::Timestamp,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::FixedSizeList(f, _)
            | DataType::ListView(f) => SqlType::Array(Box::new(SqlType::from_arrow(f.data_type())?)),
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => SqlType::Map(
                    Box::new(SqlType::from_arrow(kv[0].data_type())?),
                    Box::new(SqlType::from_arrow(kv[1].data_type())?),
                ),
                other => return Err(Error::Internal(format!("map entries of type {other}"))),
            },
            DataType::Struct(fields) => SqlType::Struct(
                fields
                    .iter()
                    .map(|f| Ok((f.name().clone(), SqlType::from_arrow(f.data_type())?)))
                    .collect::<Result<_>>()?,
            ),
            DataType::Dictionary(_, v) => SqlType::from_arrow(v)?,
            DataType::Null => SqlType::String,
            other => return Err(Error::plan(format!("expressions of Arrow type {other} have no SQL type"))),
        })
    }

    /// Whether values of this type are numbers.
    pub fn is_numeric(&self) -> bool {
        matches!(self, SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal { .. })
    }

    /// How many `ARRAY`, `MAP` and `STRUCT` levels the type has (0 for a primitive type).
    pub fn nesting_depth(&self) -> usize {
        match self {
            SqlType::Array(t) => 1 + t.nesting_depth(),
            SqlType::Map(k, v) => 1 + k.nesting_depth().max(v.nesting_depth()),
            SqlType::Struct(fields) => 1 + fields.iter().map(|(_, t)| t.nesting_depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Casts an array to the canonical Arrow type of `ty` (no-op when it already is).
pub fn to_canonical(
    array: &datafusion::arrow::array::ArrayRef,
    ty: &SqlType,
) -> Result<datafusion::arrow::array::ArrayRef> {
    let target = ty.to_arrow();
    if array.data_type() == &target {
        return Ok(array.clone());
    }
    Ok(datafusion::arrow::compute::cast(array, &target)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_round_trip() {
        let t = SqlType::Struct(vec![
            ("A".into(), SqlType::Array(Box::new(SqlType::Bigint))),
            (
                "b c".into(),
                SqlType::Map(
                    Box::new(SqlType::String),
                    Box::new(SqlType::Decimal { precision: 10, scale: 2 }),
                ),
            ),
            ("T".into(), SqlType::Timestamp),
        ]);
        assert_eq!(SqlType::from_arrow(&t.to_arrow()).unwrap(), t);
        assert_eq!(t.to_string(), "STRUCT<A ARRAY<BIGINT>, `b c` MAP<STRING, DECIMAL(10, 2)>, T TIMESTAMP>");
        assert_eq!(SqlType::from_arrow(&DataType::Utf8View).unwrap(), SqlType::String);
    }
}
