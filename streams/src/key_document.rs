//! The key document: how a row's primary key is written as a record key on change topics —
//! a JSON object of the key columns, **names in lower case, in ascending order, no
//! whitespace**: `{"id":1001}`, `{"line":2,"order_id":7}`. Brook's Debezium source writes its
//! change topics' keys this way and Brook SQL writes a repartitioned change table's keys this
//! way, so the same row always has the same key bytes — the same partition and the same slot of
//! a compacted topic — whoever wrote it. Readers match names case-insensitively.

use std::borrow::Cow;

use bytes::Bytes;

/// The name a column has in a key document.
pub fn field_name(column: &str) -> String {
    lower(column).into_owned()
}

/// [`field_name`], without allocating when the name is in lower case already (the usual case).
fn lower(column: &str) -> Cow<'_, str> {
    if column.chars().any(char::is_uppercase) {
        Cow::Owned(column.to_lowercase())
    } else {
        Cow::Borrowed(column)
    }
}

/// The order of `columns` in a key document: indexes into `columns`, by [`field_name`].
pub fn field_order<S: AsRef<str>>(columns: &[S]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by(|&a, &b| lower(columns[a].as_ref()).cmp(&lower(columns[b].as_ref())));
    order
}

/// The key document of `fields`: (column name, the value's JSON text), in any order.
pub fn encode<N: AsRef<str>, V: AsRef<[u8]>>(fields: &[(N, V)]) -> Bytes {
    let mut named: Vec<(Cow<'_, str>, &[u8])> =
        fields.iter().map(|(n, v)| (lower(n.as_ref()), v.as_ref())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(2 + named.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>());
    out.push(b'{');
    for (k, (name, value)) in named.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        // Serializing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, name.as_ref());
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::*;

    #[test]
    fn byte_layout_is_pinned() {
        assert_eq!(&encode(&[("id", "1001")])[..], br#"{"id":1001}"#);
        assert_eq!(&encode(&[("Order_ID", "7"), ("LINE", "2")])[..], br#"{"line":2,"order_id":7}"#);
        assert_eq!(&encode(&[("name", r#""a \"b\"""#)])[..], br#"{"name":"a \"b\""}"#);
        assert_eq!(field_order(&["b", "A", "c"]), vec![1, 0, 2]);
    }

    proptest! {
        /// Any set of columns and JSON values gives a document that parses back to the same
        /// values under the lower-case names, with the names in ascending order.
        #[test]
        fn documents_parse_back(fields in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", any::<i64>(), 1..6)) {
            let mut seen = std::collections::HashSet::new();
            let fields: Vec<(String, String)> = fields
                .into_iter()
                .filter(|(n, _)| seen.insert(n.to_lowercase()))
                .map(|(n, v)| (n, v.to_string()))
                .collect();
            let doc = encode(&fields);
            let parsed: Map<String, Value> = serde_json::from_slice(&doc).unwrap();
            let names: Vec<&String> = parsed.keys().collect();
            let mut sorted = names.clone();
            sorted.sort();
            prop_assert_eq!(names, sorted);
            for (n, v) in &fields {
                prop_assert_eq!(parsed.get(&n.to_lowercase()).map(|v| v.to_string()), Some(v.clone()));
            }
        }
    }
}
