//! The KAFKA format: one primitive column in the layout of Kafka's standard serializers.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};

use super::{Decoded, PayloadDecoder, PayloadEncoder};
use crate::error::Result;
use crate::types::SqlType;

/// Decodes zero or one primitive column.
pub(super) struct KafkaDecoder {
    column: Option<SqlType>,
}

impl KafkaDecoder {
    pub(super) fn new(columns: &[(String, SqlType)]) -> Self {
        KafkaDecoder { column: columns.first().map(|c| c.1.clone()) }
    }
}

fn fixed<const N: usize>(p: &[u8], what: &str) -> Result<[u8; N], String> {
    p.try_into().map_err(|_| format!("expected {N} bytes for {what}, got {}", p.len()))
}

impl PayloadDecoder for KafkaDecoder {
    fn decode(&mut self, payloads: &[&[u8]]) -> Decoded {
        let Some(ty) = &self.column else {
            return Decoded { columns: Vec::new(), rows: None, errors: Vec::new() };
        };
        let mut rows = Vec::with_capacity(payloads.len());
        let mut errors = Vec::new();
        macro_rules! run {
            ($builder:expr, $conv:expr) => {{
                let mut b = $builder;
                for (i, p) in payloads.iter().enumerate() {
                    match $conv(*p) {
                        Ok(v) => {
                            b.append_value(v);
                            rows.push(i as u32);
                        }
                        Err(e) => errors.push((i as u32, e)),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        let column = match ty {
            SqlType::Int => {
                run!(Int32Builder::with_capacity(payloads.len()), |p: &[u8]| fixed::<4>(p, "an INT")
                    .map(i32::from_be_bytes))
            }
            SqlType::Bigint => {
                run!(Int64Builder::with_capacity(payloads.len()), |p: &[u8]| fixed::<8>(p, "a BIGINT")
                    .map(i64::from_be_bytes))
            }
            SqlType::Double => {
                run!(Float64Builder::with_capacity(payloads.len()), |p: &[u8]| fixed::<8>(p, "a DOUBLE")
                    .map(f64::from_be_bytes))
            }
            SqlType::Bytes => run!(BinaryBuilder::new(), |p: &[u8]| Ok::<_, String>(p.to_vec())),
            _ => run!(StringBuilder::new(), |p: &[u8]| std::str::from_utf8(p)
                .map(str::to_string)
                .map_err(|e| format!("STRING is not UTF-8: {e}"))),
        };
        let rows = if errors.is_empty() { None } else { Some(rows) };
        Decoded { columns: vec![column], rows, errors }
    }
}

/// Encodes zero or one primitive column.
pub(super) struct KafkaEncoder {
    column: Option<SqlType>,
}

impl KafkaEncoder {
    pub(super) fn new(columns: &[(String, SqlType)]) -> Self {
        KafkaEncoder { column: columns.first().map(|c| c.1.clone()) }
    }
}

impl PayloadEncoder for KafkaEncoder {
    fn encode(&self, columns: &[ArrayRef], rows: usize) -> Result<Vec<Option<Bytes>>> {
        let (Some(ty), Some(a)) = (&self.column, columns.first()) else {
            return Ok(vec![None; rows]);
        };
        let present = |i: usize| a.is_valid(i);
        Ok(super::json::encode_rows(rows, |i, out| {
            if !present(i) {
                return false;
            }
            match ty {
                SqlType::Int => out.extend_from_slice(&a.as_primitive::<Int32Type>().value(i).to_be_bytes()),
                SqlType::Bigint => {
                    out.extend_from_slice(&a.as_primitive::<Int64Type>().value(i).to_be_bytes())
                }
                SqlType::Double => {
                    out.extend_from_slice(&a.as_primitive::<Float64Type>().value(i).to_be_bytes())
                }
                SqlType::Bytes => out.extend_from_slice(a.as_binary::<i32>().value(i)),
                _ => out.extend_from_slice(a.as_string::<i32>().value(i).as_bytes()),
            }
            true
        }))
    }
}
