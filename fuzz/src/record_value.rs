//! The JSON record decoder SQL queries read values and keys with (`Codec::decoder`): the input
//! is split at NUL bytes into the payloads of one batch (so the batch pass, the one-by-one
//! fallback that isolates bad records, and the learning of field spellings all run) and
//! decoded for a schema of nested types, wrapped (an object of columns) and unwrapped (a
//! single column). Every payload must come out as a row or as an error, never both and never
//! neither; a decoded batch must encode again. Panics, stack overflows and hangs are findings.

use brook_sql::format::{Codec, Format};
use brook_sql::types::SqlType;

/// The columns of the wrapped schema: every nested type, structs in arrays in maps.
pub fn nested_columns() -> Vec<(String, SqlType)> {
    let s = |t: SqlType| Box::new(t);
    vec![
        ("ID".into(), SqlType::Bigint),
        ("NAME".into(), SqlType::String),
        ("PRICE".into(), SqlType::Decimal { precision: 10, scale: 2 }),
        ("SCORE".into(), SqlType::Double),
        ("OK".into(), SqlType::Boolean),
        ("AT".into(), SqlType::Timestamp),
        ("DAY".into(), SqlType::Date),
        ("RAW".into(), SqlType::Bytes),
        ("TAGS".into(), SqlType::Array(s(SqlType::Array(s(SqlType::Int))))),
        ("ATTRS".into(), SqlType::Map(s(SqlType::String), s(SqlType::Array(s(SqlType::Double))))),
        (
            "ADDRESS".into(),
            SqlType::Struct(vec![
                ("CITY".into(), SqlType::String),
                (
                    "GEO".into(),
                    SqlType::Struct(vec![("LAT".into(), SqlType::Double), ("LON".into(), SqlType::Double)]),
                ),
                ("LINES".into(), SqlType::Array(s(SqlType::Struct(vec![("N".into(), SqlType::Int)])))),
            ]),
        ),
    ]
}

/// Decodes `payloads` with `codec` and checks what a decoder promises.
pub fn decode_and_check(codec: &Codec, payloads: &[&[u8]]) {
    let mut decoder = codec.decoder().expect("a decoder for a valid schema");
    let out = decoder.decode(payloads);
    let rows = out.rows.clone().unwrap_or_else(|| (0..payloads.len() as u32).collect());
    let mut seen = vec![0u8; payloads.len()];
    for &r in &rows {
        seen[r as usize] += 1;
    }
    for (e, _) in &out.errors {
        seen[*e as usize] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1), "each payload is a row or an error: {seen:?}");
    assert_eq!(out.columns.len(), codec.columns.len());
    for c in &out.columns {
        assert_eq!(c.len(), rows.len(), "one value per decoded row");
    }
    if !rows.is_empty() {
        let encoded = codec.encoder().expect("an encoder").encode(&out.columns, rows.len());
        assert_eq!(encoded.expect("decoded rows encode").len(), rows.len());
    }
}

/// One input: NUL-separated JSON payloads.
pub fn run(data: &[u8]) {
    let payloads: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let wrapped = Codec { format: Format::Json, columns: nested_columns(), wrap_single: true };
    decode_and_check(&wrapped, &payloads);
    let single = Codec {
        format: Format::Json,
        columns: vec![("V".into(), nested_columns().swap_remove(10).1)],
        wrap_single: false,
    };
    decode_and_check(&single, &payloads);
}
