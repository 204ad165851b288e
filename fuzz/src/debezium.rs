//! The Debezium change-event readers: Brook SQL's `DEBEZIUM_JSON` value format (`read_change`,
//! then the row it finds through the JSON decoder, keys from rows and record-key checks) and
//! `brook connect`'s line decoder for Debezium files (`parse_line`, `CdcDecoder` with key
//! columns and with key documents). The input is one event, or `key TAB event`. Errors are
//! fine; panics, stack overflows and hangs are findings.

use brook_connect::debezium::CdcDecoder;
use brook_connect::debezium::event::parse_line;
use brook_sql::format::debezium::{Change, check_record_key, keyed_by_rows, read_change, row_key};
use brook_sql::format::{Codec, Format};
use bytes::Bytes;

use super::record_value::{decode_and_check, nested_columns};

/// One input: a change event, or a record key and a change event separated by a tab.
pub fn run(data: &[u8]) {
    let (key, value) = match data.iter().position(|&b| b == b'\t') {
        Some(tab) => (Some(&data[..tab]), &data[tab + 1..]),
        None => (None, data),
    };
    let key_columns = vec!["ID".to_string(), "name".to_string()];
    let rows = Codec { format: Format::DebeziumJson, columns: nested_columns(), wrap_single: false };
    if let Ok(change) = read_change(value) {
        match change {
            Change::Upsert { after, before } => {
                decode_and_check(&rows, &[after]);
                if let Some(before) = before {
                    decode_and_check(&rows, &[before, after]);
                }
            }
            Change::Delete { before: Some(before) } => decode_and_check(&rows, &[before]),
            Change::Delete { before: None } | Change::Skip(_) => {}
        }
        if let Ok(keyed) = keyed_by_rows(&change, &key_columns) {
            for (k, _) in keyed {
                // A key document is a JSON object the key decoder reads.
                let keys =
                    Codec { format: Format::DebeziumJson, columns: nested_columns(), wrap_single: false };
                decode_and_check(&keys, &[&k]);
            }
        }
        if let Some(key) = key {
            let _ = check_record_key(key, &change, &key_columns);
        }
    }
    let _ = row_key(value, &key_columns);
    let line = Bytes::copy_from_slice(data);
    let _ = parse_line(&line);
    let mut out = Vec::new();
    let _ = CdcDecoder::new(Some(key_columns)).decode(&line, &mut out);
    let _ = CdcDecoder::new(None).decode(&line, &mut out);
}
