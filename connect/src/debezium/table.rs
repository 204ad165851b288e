//! Tables of rows from a change-event topic, in the Rust DSL.
//!
//! A topic written by a Debezium source holds, per row key, envelopes (`c`/`r`/`u`), delete
//! markers (`d`) and tombstones. [`table`] reads it as a [`KTable`] of the rows themselves: an
//! envelope's `after` image becomes the row, and a delete marker or a tombstone removes it.
//!
//! ```
//! use brook_streams::dsl::StreamsBuilder;
//! use brook_streams::test_driver::TopologyTestDriver;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
//! struct Customer { id: i64, name: String }
//! brook_streams::json_data!(Customer);
//!
//! let builder = StreamsBuilder::new();
//! brook_connect::debezium::table::<String, Customer>(&builder, "customers")
//!     .to_stream()
//!     .to("rows");
//! let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! let key = brook_connect::debezium::key_string(&serde_json::json!({"id": 1}));
//! let create = r#"{"before":null,"after":{"id":1,"name":"Ada"},"op":"c"}"#;
//! let delete = r#"{"before":{"id":1,"name":"Ada"},"after":null,"op":"d"}"#;
//! driver.pipe_raw("customers", Some(key.as_bytes()), Some(create.as_bytes()), 1, vec![]).unwrap();
//! driver.pipe_raw("customers", Some(key.as_bytes()), Some(delete.as_bytes()), 2, vec![]).unwrap();
//! driver.pipe_raw("customers", Some(key.as_bytes()), None, 2, vec![]).unwrap();
//! let rows = driver.read_typed("rows", &brook_streams::serde::serdes::string(),
//!     &brook_streams::serde::serdes::nullable(brook_streams::serde::serdes::json::<Customer>())).unwrap();
//! let values: Vec<_> = rows.into_iter().map(|r| r.value).collect();
//! assert_eq!(values, vec![Some(Customer { id: 1, name: "Ada".into() }), None]);
//! ```

use brook_streams::dsl::{Data, KTable, StreamsBuilder};
use brook_streams::serde::serdes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A row image from an envelope: `Some(after)`, or `None` for a delete marker or truncate.
#[derive(Debug, Clone)]
struct RowImage<V>(Option<V>);

#[derive(serde::Deserialize)]
struct EnvelopeIn<V> {
    #[serde(default = "none")]
    after: Option<V>,
}

fn none<V>() -> Option<V> {
    None
}

/// The rows of a change-event topic as a table keyed by the row key.
///
/// `V` is the row type (deserialized from `after`); rows whose `after` image does not
/// deserialize into `V` are skipped with an error in the application's metrics. `V: Default`
/// is only needed to satisfy the DSL's table mapping and is never used for a real row.
pub fn table<K, V>(builder: &StreamsBuilder, topic: &str) -> KTable<K, V>
where
    K: Data,
    V: Data + Serialize + DeserializeOwned + Default,
{
    let serde = serdes::from_fn::<RowImage<V>>(
        |r| {
            serde_json::to_vec(
                &serde_json::json!({ "after": serde_json::to_value(&r.0).map_err(|e| e.to_string())? }),
            )
            .map(|v| Some(v.into()))
            .map_err(|e| e.to_string())
        },
        |bytes| {
            let bytes = bytes.ok_or("a null change event where an envelope was expected")?;
            serde_json::from_slice::<EnvelopeIn<V>>(bytes)
                .map(|e| RowImage(e.after))
                .map_err(|e| format!("not a change event with a row of the expected type: {e}"))
        },
    );
    builder
        .table_with::<K, RowImage<V>>(topic, K::serde(), serde)
        .filter(|_, row| row.0.is_some())
        .map_values(|row| row.0.clone().unwrap_or_default())
}

/// The record key of a row with these primary-key columns, as a string: `{"id":1}`.
pub fn key_string(key_columns: &serde_json::Value) -> String {
    match key_columns.as_object() {
        Some(doc) => String::from_utf8_lossy(&super::keys::key_from_document(doc)).into_owned(),
        None => key_columns.to_string(),
    }
}
