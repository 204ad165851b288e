//! Format unit tests: decoding with bad records, case-insensitive JSON, encodings.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};

use super::*;

fn cols(spec: &[(&str, SqlType)]) -> Vec<(String, SqlType)> {
    spec.iter().map(|(n, t)| (n.to_string(), t.clone())).collect()
}

fn codec(format: Format, spec: &[(&str, SqlType)]) -> Codec {
    Codec { format, columns: cols(spec), wrap_single: true }
}

#[test]
fn json_isolates_bad_records_and_matches_names_case_insensitively() {
    let c = codec(
        Format::Json,
        &[
            ("ID", SqlType::Bigint),
            ("NAME", SqlType::String),
            ("ADDR", SqlType::Struct(vec![("STREET".into(), SqlType::String)])),
            ("TAGS", SqlType::Array(Box::new(SqlType::Int))),
            ("RAW", SqlType::Bytes),
        ],
    );
    let mut d = c.decoder().unwrap();
    let payloads: Vec<&[u8]> = vec![
        br#"{"id": 1, "name": "a", "addr": {"street": "main"}, "tags": [1,2], "raw": "AAE="}"#,
        br#"{"id": "#,
        br#"{"Id": 3, "NAME": 7}"#,
        br#"{"id": "not a number"}"#,
    ];
    let out = d.decode(&payloads);
    assert_eq!(out.rows, Some(vec![0, 2]));
    assert_eq!(out.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 3]);
    assert!(out.errors[0].1.starts_with("cannot deserialize JSON"), "{}", out.errors[0].1);
    let ids = out.columns[0].as_primitive::<Int64Type>();
    assert_eq!((ids.value(0), ids.value(1)), (1, 3));
    let names = out.columns[1].as_string::<i32>();
    assert_eq!((names.value(0), names.value(1)), ("a", "7"));
    let street = out.columns[2].as_struct().column(0).as_string::<i32>().value(0).to_string();
    assert_eq!(street, "main");
    assert_eq!(out.columns[4].as_binary::<i32>().value(0), &[0u8, 1]);
}

#[test]
fn json_learns_a_spelling_first_seen_in_the_middle_of_a_batch() {
    let c = codec(Format::Json, &[("ID", SqlType::Bigint), ("FullName", SqlType::String)]);
    let mut d = c.decoder().unwrap();
    // All well-formed, so the batch decodes in one pass; "fullName" appears only in the middle.
    let payloads: Vec<&[u8]> = vec![
        br#"{"id": 1, "FullName": "a"}"#,
        br#"{"id": 2, "fullName": "b"}"#,
        br#"{"id": 3, "FULLNAME": null}"#,
        br#"{"id": 4, "note": "FullName"}"#,
        br#"{"id": 5, "FullName": "e"}"#,
    ];
    let out = d.decode(&payloads);
    assert_eq!(out.rows, None, "{:?}", out.errors);
    let names = out.columns[1].as_string::<i32>();
    let got: Vec<Option<&str>> = (0..5).map(|i| names.is_valid(i).then(|| names.value(i))).collect();
    assert_eq!(got, vec![Some("a"), Some("b"), None, None, Some("e")]);
}

#[test]
fn json_encodes_ksqldb_style() {
    let c = codec(Format::Json, &[("A", SqlType::Bigint), ("T", SqlType::Timestamp), ("B", SqlType::Bytes)]);
    let mut d = c.decoder().unwrap();
    let decoded = d.decode(&[br#"{"A": 5, "T": 1000, "B": "AAE="}"#, br#"{"A": null}"#]);
    assert!(decoded.all_ok());
    let enc = c.encoder().unwrap();
    let out = enc.encode(&decoded.columns, 2).unwrap();
    assert_eq!(out[0].as_deref(), Some(&br#"{"A":5,"T":1000,"B":"AAE="}"#[..]));
    assert_eq!(out[1].as_deref(), Some(&br#"{"A":null,"T":null,"B":null}"#[..]));
}

#[test]
fn unwrapped_json_single_value() {
    let c = Codec { format: Format::Json, columns: cols(&[("K", SqlType::String)]), wrap_single: false };
    let mut d = c.decoder().unwrap();
    let out = d.decode(&[br#""abc""#, br#"12"#]);
    assert!(out.all_ok(), "{:?}", out.errors);
    assert_eq!(out.columns[0].as_string::<i32>().value(1), "12");
    let enc = c.encoder().unwrap().encode(&out.columns, 2).unwrap();
    assert_eq!(enc[0].as_deref(), Some(&br#""abc""#[..]));
}

#[test]
fn kafka_primitives() {
    let c = codec(Format::Kafka, &[("V", SqlType::Int)]);
    let mut d = c.decoder().unwrap();
    let out = d.decode(&[&[0, 0, 1, 0], &[1, 2]]);
    assert_eq!(out.rows, Some(vec![0]));
    assert_eq!(out.columns[0].as_primitive::<Int32Type>().value(0), 256);
    let bytes = c.encoder().unwrap().encode(&out.columns, 1).unwrap();
    assert_eq!(bytes[0].as_deref(), Some(&[0u8, 0, 1, 0][..]));
    assert!(Format::Kafka.check_columns("key", &cols(&[("A", SqlType::Int), ("B", SqlType::Int)])).is_err());
}

#[test]
fn delimited_round_trip() {
    let c = codec(
        Format::Delimited { delimiter: ',' },
        &[("A", SqlType::Int), ("B", SqlType::String), ("C", SqlType::Double), ("T", SqlType::Timestamp)],
    );
    let mut d = c.decoder().unwrap();
    let out = d.decode(&[b"1,\"x,y\",2.5,1000", b"oops,a,b,c", b"2,,,"]);
    assert_eq!(out.rows, Some(vec![0, 2]));
    assert_eq!(out.columns[2].as_primitive::<Float64Type>().value(0), 2.5);
    assert!(out.columns[1].is_null(1));
    let enc = c.encoder().unwrap().encode(&out.columns, 2).unwrap();
    assert_eq!(enc[0].as_deref(), Some(&b"1,\"x,y\",2.5,1000"[..]));
    assert_eq!(enc[1].as_deref(), Some(&b"2,,,"[..]));
}

#[test]
fn json_decodes_a_spelling_first_used_in_a_later_batch() {
    let c = codec(Format::Json, &[("ID", SqlType::Bigint), ("NAME", SqlType::String)]);
    let mut d = c.decoder().unwrap();
    let first: Vec<&[u8]> = vec![br#"{"id": 1, "name": "a"}"#, br#"{"id": 2, "name": "b"}"#];
    let out = d.decode(&first);
    assert_eq!(out.columns[0].as_primitive::<Int64Type>().values(), &[1, 2]);
    // Only lower-case names so far; now other spellings appear, even next to a null one.
    let later: Vec<&[u8]> = vec![
        br#"{"id": 3, "name": "c"}"#,
        br#"{"ID": 4, "Name": "d"}"#,
        br#"{"id": null, "ID": 5, "name": "e"}"#,
        br#"{"id": 6, "name": "f"}"#,
    ];
    let out = d.decode(&later);
    assert!(out.all_ok());
    assert_eq!(out.columns[0].as_primitive::<Int64Type>().values(), &[3, 4, 5, 6]);
    let names = out.columns[1].as_string::<i32>();
    assert_eq!((0..4).map(|i| names.value(i)).collect::<Vec<_>>(), vec!["c", "d", "e", "f"]);
    // A column no payload has has no spelling to decode: all nulls.
    let c = codec(Format::Json, &[("ID", SqlType::Bigint), ("MISSING", SqlType::String)]);
    let mut d = c.decoder().unwrap();
    let out = d.decode(&first);
    assert_eq!(out.columns[1].null_count(), 2);
}

#[test]
fn debezium_keys_are_the_key_documents_connect_writes() {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    let c = codec(
        Format::DebeziumJson,
        &[("ORDER_ID", SqlType::Bigint), ("Line", SqlType::Bigint), ("sku", SqlType::String)],
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![7, -1])),
        Arc::new(Int64Array::from(vec![2, 0])),
        Arc::new(StringArray::from(vec!["a\"b", "é"])),
    ];
    let keys = c.encoder().unwrap().encode(&columns, 2).unwrap();
    for (row, (order, line, sku)) in [(7, 2, "a\"b"), (-1, 0, "é")].into_iter().enumerate() {
        let sku = serde_json::to_string(sku).unwrap();
        let (order, line) = (order.to_string(), line.to_string());
        let want = brook_streams::key_document::encode(&[("ORDER_ID", order), ("Line", line), ("sku", sku)]);
        assert_eq!(keys[row].as_deref(), Some(&want[..]), "row {row}");
    }
}
