//! Reading rows back from an internal (repartition) topic: each record value is one row in
//! arrow-row encoding, written by a [`super::sink::RepartitionSink`] of the same query.

use brook_streams::record::InputRecord;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::Result;

/// Decodes rows of an internal topic.
pub(crate) struct RowSource {
    converter: RowConverter,
    schema: SchemaRef,
}

/// The row converter for a schema (used on both sides of an internal topic).
pub(crate) fn converter(schema: &SchemaRef) -> Result<RowConverter> {
    Ok(RowConverter::new(schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect())?)
}

impl RowSource {
    pub(crate) fn new(schema: SchemaRef) -> Result<Self> {
        Ok(RowSource { converter: converter(&schema)?, schema })
    }

    pub(crate) fn decode(&mut self, records: &[InputRecord]) -> Result<Option<RecordBatch>> {
        let parser = self.converter.parser();
        let values: Vec<&[u8]> = records.iter().filter_map(|r| r.value.as_deref()).collect();
        if values.is_empty() {
            return Ok(None);
        }
        let cols = self.converter.convert_rows(values.iter().map(|v| parser.parse(v)))?;
        Ok(Some(RecordBatch::try_new(self.schema.clone(), cols)?))
    }
}
