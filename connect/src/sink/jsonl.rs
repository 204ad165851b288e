//! JSON-lines output files: one record per line.
//!
//! By default a line is the record's value: written as it is when it is single-line JSON,
//! re-encoded on one line when it is multi-line JSON, as a JSON string when it is not JSON,
//! and `null` for a tombstone (so a compacted topic's deletes survive the round trip; the
//! Debezium source reads `null` lines as tombstones). With `envelope`, a line is
//! `{"topic":…,"partition":…,"offset":…,"timestamp":…,"key":…,"value":…}`, with key and value
//! rendered the same way.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use brook_broker::Record;

use super::PartFile;
use crate::error::{Error, Result};

/// A JSON-lines file being written.
pub struct JsonLinesFile {
    connector: String,
    path: PathBuf,
    out: BufWriter<File>,
    envelope: bool,
    topic: String,
    partition: i32,
    size: u64,
    rows: u64,
    line: Vec<u8>,
}

impl JsonLinesFile {
    /// Creates (truncates) the file at `path`.
    pub fn create(connector: &str, path: &Path, envelope: bool, topic: &str, partition: i32) -> Result<Self> {
        let file = File::create(path).map_err(Error::io("creating an output file", path))?;
        Ok(JsonLinesFile {
            connector: connector.to_string(),
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            envelope,
            topic: topic.to_string(),
            partition,
            size: 0,
            rows: 0,
            line: Vec::new(),
        })
    }

    fn error(&self, e: std::io::Error) -> Error {
        Error::Sink { connector: self.connector.clone(), path: self.path.clone(), message: e.to_string() }
    }
}

/// Appends `payload` as one line of JSON: unchanged if it is single-line JSON.
pub fn push_json(out: &mut Vec<u8>, payload: Option<&[u8]>) {
    let Some(bytes) = payload else {
        out.extend_from_slice(b"null");
        return;
    };
    let text = bytes.trim_ascii();
    if !text.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok() {
        if !text.contains(&b'\n') && !text.contains(&b'\r') {
            out.extend_from_slice(text);
            return;
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(text) {
            let _ = serde_json::to_writer(&mut *out, &v);
            return;
        }
    }
    let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(bytes));
}

impl PartFile for JsonLinesFile {
    fn write(&mut self, r: &Record) -> Result<()> {
        self.line.clear();
        if self.envelope {
            self.line.extend_from_slice(b"{\"topic\":");
            let _ = serde_json::to_writer(&mut self.line, &self.topic);
            self.line.extend_from_slice(
                format!(
                    ",\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":",
                    self.partition, r.offset, r.timestamp
                )
                .as_bytes(),
            );
            push_json(&mut self.line, r.key.as_deref());
            self.line.extend_from_slice(b",\"value\":");
            push_json(&mut self.line, r.value.as_deref());
            self.line.push(b'}');
        } else {
            push_json(&mut self.line, r.value.as_deref());
        }
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            return Err(self.error(e));
        }
        self.size += self.line.len() as u64;
        self.rows += 1;
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        if let Err(e) = self.out.flush() {
            return Err(self.error(e));
        }
        if let Err(e) = self.out.get_ref().sync_all() {
            return Err(self.error(e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(payload: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        push_json(&mut out, payload);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_become_one_json_line() {
        assert_eq!(line(Some(br#"{"a":1}"#)), r#"{"a":1}"#);
        assert_eq!(line(Some(b"{\n \"a\": 1\n}")), r#"{"a":1}"#);
        assert_eq!(line(Some(b"plain text")), r#""plain text""#);
        assert_eq!(line(Some(b"")), r#""""#);
        assert_eq!(line(None), "null");
    }
}
