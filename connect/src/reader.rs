//! Reading complete records from a file that may still be growing.
//!
//! A record is *complete* when its terminator is in the file: a newline (for CSV, a newline
//! outside quotes). The bytes after the last terminator belong to a record still being
//! written; they are left for a later read and never reported as malformed. Two exceptions:
//!
//! * JSON formats: an unterminated tail that already parses as a whole JSON document (not a
//!   number, which could still grow, and not ending in whitespace) is complete — so a file
//!   whose last line lacks a newline is still read. If its newline arrives later it is
//!   absorbed (`line_open`), not read as an extra empty line.
//! * At the end of input (a source in `once` mode at end of file), the tail is the last record.
//!
//! A record longer than `max_record_bytes` ends at the first newline after that limit; it is
//! reported as [`RawRecord::too_long`] (with its first bytes) so the source can dead-letter it
//! without holding it in memory.
//!
//! Positions: `start` is where the record begins, `content_end` where its content ends (before
//! `\r\n`/`\n`), and `next` where the next record begins. `content_end` does not depend on
//! whether the terminator was already written, which keeps record positions stable across
//! restarts (see [`crate::position`]).

use std::fs::File;
use std::os::unix::fs::FileExt;

use bytes::{Bytes, BytesMut};

/// How records are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line; `json_tail` enables the complete-JSON rule for the last line.
    Lines {
        /// Whether an unterminated last line that parses as JSON is complete.
        json_tail: bool,
    },
    /// CSV: a newline inside quotes does not end a record.
    Csv {
        /// Field delimiter.
        delimiter: u8,
    },
}

/// One record read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record's content without its terminator (for a too-long record, its first bytes).
    pub bytes: Bytes,
    /// Offset of the record's first byte.
    pub start: u64,
    /// Offset just after its content (before the terminator).
    pub content_end: u64,
    /// Offset where the next record starts.
    pub next: u64,
    /// `Some(total length)` if the record exceeded the size limit.
    pub too_long: Option<u64>,
    /// The record had no terminator (complete JSON tail, or end of input).
    pub unterminated: bool,
    /// The record's bytes are valid UTF-8 (checked once per chunk read, not per record).
    pub utf8: bool,
}

/// Reads records from files.
#[derive(Debug, Clone)]
pub struct RecordReader {
    framing: Framing,
    max_record_bytes: usize,
    /// Bytes of a too-long record kept for the dead-letter topic.
    keep_bytes: usize,
}

/// Where and how far to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFrom {
    /// Offset of the first unread byte (a record boundary).
    pub offset: u64,
    /// The file size seen by the caller; nothing beyond it is read.
    pub size: u64,
    /// The record before `offset` had no terminator (its newline may come next).
    pub line_open: bool,
    /// The file will not grow: an unterminated tail is a record.
    pub final_eof: bool,
    /// Stop after consuming about this many bytes.
    pub budget: usize,
}

/// Where a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadEnd {
    /// Offset of the first byte not consumed (the start of an incomplete record, or `size`).
    pub offset: u64,
    /// Whether the last consumed record had no terminator (its newline may still come).
    pub line_open: bool,
}

impl RecordReader {
    /// A reader; records longer than `max_record_bytes` are reported as too long.
    pub fn new(framing: Framing, max_record_bytes: usize) -> Self {
        RecordReader { framing, max_record_bytes: max_record_bytes.max(64), keep_bytes: 64 << 10 }
    }

    /// Reads complete records of `file` as `from` describes, appending them to `out`.
    pub fn read(&self, file: &File, from: ReadFrom, out: &mut Vec<RawRecord>) -> std::io::Result<ReadEnd> {
        let ReadFrom { offset, size, mut line_open, final_eof, budget } = from;
        let mut pos = offset;
        let mut consumed = 0usize;
        let mut want = budget.clamp(64 << 10, 16 << 20);
        while pos < size && consumed < budget {
            let avail = size - pos;
            let chunk = read_exact_at(file, pos, (avail as usize).min(want))?;
            if chunk.is_empty() {
                break;
            }
            let chunk_is_tail = chunk.len() as u64 >= avail;
            let mut at = 0usize;
            if line_open {
                // The newline of a line already read as a complete JSON tail.
                at = if chunk.starts_with(b"\r\n") { 2 } else { usize::from(chunk.starts_with(b"\n")) };
                line_open = false;
            }
            let (first, first_at) = (out.len(), at);
            while at < chunk.len() {
                let rest = &chunk[at..];
                let start = pos + at as u64;
                if let Some(end) = self.frame(rest) {
                    if end > self.max_record_bytes {
                        out.push(RawRecord {
                            bytes: chunk.slice(at..at + self.keep_bytes.min(end)),
                            start,
                            content_end: start + end as u64,
                            next: start + end as u64 + 1,
                            too_long: Some(end as u64),
                            unterminated: false,
                            utf8: false,
                        });
                        at += end + 1;
                        continue;
                    }
                    let content = trim_cr(&rest[..end]);
                    out.push(RawRecord {
                        bytes: chunk.slice(at..at + content.len()),
                        start,
                        content_end: start + content.len() as u64,
                        next: start + end as u64 + 1,
                        too_long: None,
                        unterminated: false,
                        utf8: false,
                    });
                    at += end + 1;
                    continue;
                }
                if rest.len() > self.max_record_bytes {
                    // Too long: it ends at the first newline after the limit.
                    let limit = start + self.max_record_bytes as u64;
                    let Some(end) =
                        find_newline_from(file, limit, size)?.or_else(|| final_eof.then_some(size))
                    else {
                        return Ok(ReadEnd { offset: start, line_open: false });
                    };
                    let next = if end < size { end + 1 } else { size };
                    out.push(RawRecord {
                        bytes: chunk.slice(at..at + self.keep_bytes.min(rest.len())),
                        start,
                        content_end: end,
                        next,
                        too_long: Some(end - start),
                        unterminated: end >= size,
                        utf8: false,
                    });
                    mark_utf8(&chunk[first_at..at], &mut out[first..]);
                    return Ok(ReadEnd { offset: next, line_open: false });
                }
                if chunk_is_tail {
                    if final_eof || self.complete_tail(rest) {
                        let content = trim_cr(rest);
                        out.push(RawRecord {
                            bytes: chunk.slice(at..at + content.len()),
                            start,
                            content_end: start + content.len() as u64,
                            next: size,
                            too_long: None,
                            unterminated: true,
                            utf8: false,
                        });
                        mark_utf8(&chunk[first_at..], &mut out[first..]);
                        return Ok(ReadEnd { offset: size, line_open: !final_eof });
                    }
                    // The record is still being written: wait for its terminator.
                    mark_utf8(&chunk[first_at..at], &mut out[first..]);
                    return Ok(ReadEnd { offset: start, line_open: false });
                }
                // The record continues past this chunk.
                if at == 0 {
                    want = want.saturating_mul(2).min(self.max_record_bytes + 2);
                }
                break;
            }
            mark_utf8(&chunk[first_at..at.min(chunk.len())], &mut out[first..]);
            consumed += at;
            pos += at as u64;
        }
        Ok(ReadEnd { offset: pos, line_open })
    }

    /// The index of the terminator of the first record in `buf`.
    fn frame(&self, buf: &[u8]) -> Option<usize> {
        match self.framing {
            Framing::Lines { .. } => memchr::memchr(b'\n', buf),
            Framing::Csv { delimiter } => crate::csv::record_end(buf, delimiter),
        }
    }

    /// Whether an unterminated tail is already a complete record (JSON formats only).
    fn complete_tail(&self, tail: &[u8]) -> bool {
        let Framing::Lines { json_tail: true } = self.framing else { return false };
        let Some(&last) = tail.last() else { return false };
        if last.is_ascii_whitespace() {
            return false;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(tail) {
            Ok(_) => !matches!(tail.trim_ascii().first(), Some(b'-' | b'0'..=b'9')),
            Err(_) => false,
        }
    }
}

/// Sets [`RawRecord::utf8`] of `records`, which were cut from `region`: one check of the whole
/// region, and only if that fails one per record. (A too-long record keeps only its first
/// bytes, which may end inside a character: it is checked on its own.)
fn mark_utf8(region: &[u8], records: &mut [RawRecord]) {
    let all = std::str::from_utf8(region).is_ok();
    for r in records {
        r.utf8 = (all && r.too_long.is_none()) || std::str::from_utf8(&r.bytes).is_ok();
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads up to `len` bytes at `offset` (fewer at end of file).
fn read_exact_at(file: &File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

/// The offset of the first `\n` at or after `from` and before `size`.
fn find_newline_from(file: &File, mut from: u64, size: u64) -> std::io::Result<Option<u64>> {
    while from < size {
        let chunk = read_exact_at(file, from, ((size - from) as usize).min(1 << 20))?;
        if chunk.is_empty() {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', &chunk) {
            return Ok(Some(from + i as u64));
        }
        from += chunk.len() as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(
        framing: Framing,
        content: &[u8],
        line_open: bool,
        final_eof: bool,
    ) -> (Vec<(String, u64, u64, bool)>, ReadEnd) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        let reader = RecordReader::new(framing, 1 << 20);
        let mut out = Vec::new();
        let from = ReadFrom { offset: 0, size: content.len() as u64, line_open, final_eof, budget: 1 << 20 };
        let end = reader.read(&f, from, &mut out).unwrap();
        let recs = out
            .into_iter()
            .map(|r| (String::from_utf8(r.bytes.to_vec()).unwrap(), r.content_end, r.next, r.unterminated))
            .collect();
        (recs, end)
    }

    const JSON: Framing = Framing::Lines { json_tail: true };

    #[test]
    fn partial_last_line_waits() {
        let (recs, end) = read_all(JSON, b"{\"a\":1}\r\n{\"b\":", false, false);
        assert_eq!(recs, vec![("{\"a\":1}".into(), 7, 9, false)]);
        assert_eq!(end, ReadEnd { offset: 9, line_open: false });
        // A number could still grow; trailing whitespace could be the start of a tab record.
        assert_eq!(read_all(JSON, b"12", false, false).0, vec![]);
        assert_eq!(read_all(JSON, b"{\"a\":1}\t", false, false).0, vec![]);
        assert_eq!(read_all(Framing::Lines { json_tail: false }, b"{\"a\":1}", false, false).0, vec![]);
    }

    #[test]
    fn complete_json_tail_is_read_and_its_newline_absorbed() {
        let (recs, end) = read_all(JSON, b"{\"a\":1}", false, false);
        assert_eq!(recs, vec![("{\"a\":1}".into(), 7, 7, true)]);
        assert_eq!(end, ReadEnd { offset: 7, line_open: true });
        // Later the newline arrives: read from offset 7 with line_open.
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        let reader = RecordReader::new(JSON, 1 << 20);
        let mut out = Vec::new();
        let from = ReadFrom { offset: 7, size: 16, line_open: true, final_eof: false, budget: 1 << 20 };
        let end = reader.read(&f, from, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((&out[0].bytes[..], out[0].start), (&b"{\"b\":2}"[..], 8));
        assert_eq!(end, ReadEnd { offset: 16, line_open: false });
    }

    #[test]
    fn final_tail_and_csv_quotes() {
        let (recs, end) = read_all(JSON, b"x\n{\"b\":", false, true);
        assert_eq!(recs[1], ("{\"b\":".into(), 7, 7, true));
        assert_eq!(end.offset, 7);
        let csv = Framing::Csv { delimiter: b',' };
        let (recs, end) = read_all(csv, b"a,\"x\ny\"\nb,c", false, false);
        assert_eq!(recs, vec![("a,\"x\ny\"".into(), 7, 8, false)]);
        assert_eq!(end.offset, 8, "an unterminated CSV record is never complete before the end");
    }

    #[test]
    fn too_long_records_end_at_the_next_newline() {
        let mut f = tempfile::tempfile().unwrap();
        let long = "x".repeat(300);
        let content = format!("ok\n{long}\nnext\n");
        f.write_all(content.as_bytes()).unwrap();
        let mut reader = RecordReader::new(JSON, 100);
        reader.keep_bytes = 10;
        let mut out = Vec::new();
        let size = content.len() as u64;
        let from = ReadFrom { offset: 0, size, line_open: false, final_eof: false, budget: 1 << 20 };
        let end = reader.read(&f, from, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!((out[1].too_long, out[1].bytes.len(), out[1].next), (Some(300), 10, 304));
        assert_eq!((&out[2].bytes[..], end.offset), (&b"next"[..], 309));
        // A too-long record whose end is beyond the chunk read is found by scanning ahead.
        let mut g = tempfile::tempfile().unwrap();
        let huge = format!("{}\nafter\n", "y".repeat(200_000));
        g.write_all(huge.as_bytes()).unwrap();
        out.clear();
        let from =
            ReadFrom { offset: 0, size: huge.len() as u64, line_open: false, final_eof: false, budget: 1 };
        let end = reader.read(&g, from, &mut out).unwrap();
        assert_eq!(
            (out.len(), out[0].too_long, out[0].bytes.len(), end.offset),
            (1, Some(200_000), 10, 200_001)
        );
    }

    #[test]
    fn utf8_is_checked_per_chunk_and_pinned_to_the_bad_records() {
        let mut f = tempfile::tempfile().unwrap();
        let content = b"{\"a\":\"\xc3\xa9\"}\n{\"b\":\"\xff\"}\n{\"c\":1}\n";
        f.write_all(content).unwrap();
        let reader = RecordReader::new(JSON, 1 << 20);
        let mut out = Vec::new();
        let size = content.len() as u64;
        let from = ReadFrom { offset: 0, size, line_open: false, final_eof: false, budget: 1 << 20 };
        reader.read(&f, from, &mut out).unwrap();
        assert_eq!(out.iter().map(|r| r.utf8).collect::<Vec<_>>(), vec![true, false, true]);
        // Read one record at a time, a character split by the chunk end is not an error.
        let mut g = tempfile::tempfile().unwrap();
        let text = "é".repeat(40_000) + "\n" + &"ü".repeat(40_000) + "\n";
        g.write_all(text.as_bytes()).unwrap();
        out.clear();
        let from =
            ReadFrom { offset: 0, size: text.len() as u64, line_open: false, final_eof: false, budget: 1 };
        let end = reader.read(&g, from, &mut out).unwrap();
        assert_eq!((out.len(), out[0].utf8, end.offset), (1, true, 80_001));
    }
}
