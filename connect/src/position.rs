//! Where a record came from, carried in its headers.
//!
//! Every record a file source writes — to its topic or to its dead-letter topic — carries:
//!
//! | header | value |
//! |---|---|
//! | `brook.connector` | the connector's name |
//! | `brook.source` | `<inode>:<line end offset>:<index>:<path>` — the input line the record came from |
//! | `brook.cdc.position` | the change event's database position (Debezium sources only), see [`crate::debezium::SourcePosition`] |
//!
//! `index` numbers the records one line produced (a delete gives a delete marker and a
//! tombstone). Together, `(path, inode, offset, index)` identify a record's place in the input;
//! positions only grow within one file, which is what exactly-once recovery relies on
//! (see [`crate::checkpoint`]). The header also tells a user which line of which file a record
//! came from.

use bytes::Bytes;

use brook_broker::Header;

/// Header naming the connector that wrote a record.
pub const CONNECTOR_HEADER: &str = "brook.connector";
/// Header with the input position of a record.
pub const SOURCE_HEADER: &str = "brook.source";
/// Header with the database position of a change event.
pub const CDC_POSITION_HEADER: &str = "brook.cdc.position";

/// The place of one output record in a source's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinePosition {
    /// Byte offset just after the input line (where the next line starts).
    pub offset: u64,
    /// Index of the record among those the line produced.
    pub index: u32,
}

/// A decoded `brook.source` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHeader {
    /// The file's path as the connector saw it.
    pub path: String,
    /// The file's inode (tells a replaced file from the original).
    pub inode: u64,
    /// Position of the record.
    pub position: LinePosition,
}

impl SourceHeader {
    /// Encodes the header value.
    pub fn encode(path: &str, inode: u64, position: LinePosition) -> Bytes {
        let mut out = Vec::with_capacity(path.len() + 32);
        Self::encode_into(&mut out, path, inode, position);
        Bytes::from(out)
    }

    /// Appends the header value to `out` (what [`SourceHeader::encode`] returns), so a writer
    /// can reuse one buffer for every record.
    pub fn encode_into(out: &mut Vec<u8>, path: &str, inode: u64, position: LinePosition) {
        let mut number = itoa::Buffer::new();
        out.extend_from_slice(number.format(inode).as_bytes());
        out.push(b':');
        out.extend_from_slice(number.format(position.offset).as_bytes());
        out.push(b':');
        out.extend_from_slice(number.format(position.index).as_bytes());
        out.push(b':');
        out.extend_from_slice(path.as_bytes());
    }

    /// Decodes a header value; `None` if it is not one of ours.
    pub fn decode(value: &[u8]) -> Option<SourceHeader> {
        let s = std::str::from_utf8(value).ok()?;
        let mut parts = s.splitn(4, ':');
        let inode = parts.next()?.parse().ok()?;
        let offset = parts.next()?.parse().ok()?;
        let index = parts.next()?.parse().ok()?;
        let path = parts.next()?.to_string();
        Some(SourceHeader { path, inode, position: LinePosition { offset, index } })
    }
}

/// The value of header `name` in `headers`, if present and not null.
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|h| h.key.as_ref() == name.as_bytes()).and_then(|h| h.value.as_deref())
}

/// Whether a record was written by `connector`.
pub fn written_by(headers: &[Header], connector: &str) -> bool {
    header(headers, CONNECTOR_HEADER) == Some(connector.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_header_round_trips_paths_with_colons() {
        let p = LinePosition { offset: 1234, index: 1 };
        let v = SourceHeader::encode("/data/c:d/x.json", 42, p);
        assert_eq!(&v[..], b"42:1234:1:/data/c:d/x.json");
        let h = SourceHeader::decode(&v).unwrap();
        assert_eq!((h.path.as_str(), h.inode, h.position), ("/data/c:d/x.json", 42, p));
        assert_eq!(SourceHeader::decode(b"nonsense"), None);
    }
}
