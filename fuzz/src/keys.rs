//! The key decoders: the windowed-key rule (`key ‖ start`, `key ‖ end ‖ start`) of the Rust
//! DSL and of SQL's windowed sources, the state stores' length-prefixed and timestamp key
//! encodings, and SQL's key formats (KAFKA, JSON, DELIMITED, DEBEZIUM_JSON key documents,
//! NONE) for the key types each allows. What decodes must encode back to the same bytes where
//! the format is canonical (windowed keys, prefixed keys, KAFKA). Errors are fine; panics
//! and hangs are findings.

use brook_sql::format::{Codec, Format};
use brook_sql::types::SqlType;
use brook_streams::dsl::WindowedSerde;
use brook_streams::serde::serdes;
use brook_streams::state::encoding;
use brook_streams::windowed_key;

use super::record_value::decode_and_check;

/// One input: a record key.
pub fn run(data: &[u8]) {
    windowed(data);
    store_keys(data);
    sql_keys(data);
}

fn windowed(data: &[u8]) {
    let size = data.first().map_or(1, |&b| i64::from(b) << 8 | 1);
    for size in [Some(size), Some(i64::MAX), None] {
        if let Some((key, start, end)) = windowed_key::split(data, size) {
            let mut again = key.to_vec();
            windowed_key::append(&mut again, start, end, size.is_none());
            assert_eq!(again, data, "split and append are inverses");
            if let Some(size) = size {
                assert_eq!(end, start.saturating_add(size));
            }
        }
    }
    let serdes = [WindowedSerde::time(serdes::bytes(), 60_000), WindowedSerde::session(serdes::bytes())];
    for serde in serdes {
        if let Ok(w) = serde.deserialize(Some(data)) {
            let again = serde.serialize(&w).expect("a decoded windowed key encodes");
            assert_eq!(again.as_deref(), Some(data));
        }
    }
}

fn store_keys(data: &[u8]) {
    if let Some((key, rest)) = encoding::read_prefixed(data) {
        let mut again = Vec::new();
        encoding::put_prefixed(&mut again, key);
        again.extend_from_slice(rest);
        assert_eq!(again, data);
    }
    if let Some(b) = data.get(..8) {
        assert_eq!(encoding::ts(encoding::read_ts(b)), b);
    }
    if let Some(end) = encoding::prefix_end(data) {
        assert!(end.as_slice() > data);
    }
}

fn sql_keys(data: &[u8]) {
    let primitive = [SqlType::Int, SqlType::Bigint, SqlType::Double, SqlType::String, SqlType::Bytes];
    for t in &primitive {
        let kafka =
            Codec { format: Format::Kafka, columns: vec![("K".into(), t.clone())], wrap_single: false };
        let mut d = kafka.decoder().expect("a KAFKA key decoder");
        let out = d.decode(&[data]);
        if out.errors.is_empty() {
            let again =
                kafka.encoder().expect("an encoder").encode(&out.columns, 1).expect("a decoded key encodes");
            // A float's NaN payload may change; everything else is byte for byte.
            if *t != SqlType::Double {
                assert_eq!(again[0].as_deref(), Some(data), "KAFKA {t} round trip");
            }
        }
    }
    let composite = vec![
        ("ID".to_string(), SqlType::Bigint),
        ("REGION".to_string(), SqlType::String),
        ("AT".to_string(), SqlType::Timestamp),
    ];
    let codecs = [
        Codec { format: Format::Json, columns: composite.clone(), wrap_single: false },
        Codec { format: Format::Json, columns: vec![("K".into(), SqlType::String)], wrap_single: false },
        Codec {
            format: Format::Delimited { delimiter: ',' },
            columns: composite.clone(),
            wrap_single: false,
        },
        Codec {
            format: Format::Delimited { delimiter: '\t' },
            columns: vec![("K".into(), SqlType::Int)],
            wrap_single: false,
        },
        Codec { format: Format::DebeziumJson, columns: composite, wrap_single: false },
        Codec { format: Format::None, columns: Vec::new(), wrap_single: false },
    ];
    let payloads: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    for codec in &codecs {
        decode_and_check(codec, &payloads);
    }
}
