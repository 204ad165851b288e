//! One segment: a file of concatenated record batches starting at a base offset, with its
//! in-memory indexes.
//!
//! Files are named after the base offset, as in Kafka: `00000000000000001234.log`, `.index`,
//! `.timeindex`. Writes are positional (`pwrite`) at the segment's end; reads are positional
//! too, so readers never contend for a file cursor and can read without holding the log lock.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::index::{OffsetIndex, TimeIndex};
use super::record_batch::{BATCH_HEADER_LEN, BatchHeader, LOG_OVERHEAD};
use crate::error::{Error, Result};

/// File name stem of a segment with this base offset.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// A segment of a partition log.
#[derive(Debug)]
pub struct Segment {
    /// Offset of the first batch (fixed when the segment is created).
    pub base_offset: i64,
    /// The `.log` file, shared with readers.
    pub file: Arc<File>,
    /// Path of the `.log` file.
    pub path: PathBuf,
    /// Bytes of valid data.
    pub size: u64,
    /// Offset after the last batch (`base_offset` when empty).
    pub next_offset: i64,
    /// Largest record timestamp (-1 when empty).
    pub max_timestamp: i64,
    /// Sparse offset → position index.
    pub offset_index: OffsetIndex,
    /// Sparse timestamp → position index.
    pub time_index: TimeIndex,
    /// Wall-clock time the segment was created or opened, for `segment.ms`.
    pub created_ms: i64,
    bytes_since_index: u64,
}

impl Segment {
    /// Creates an empty segment file in `dir`.
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Segment> {
        let path = dir.join(format!("{}.log", file_stem(base_offset)));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(Error::io(format!("creating segment {}", path.display())))?;
        Ok(Segment {
            base_offset,
            file: Arc::new(file),
            path,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            created_ms: now_ms,
            bytes_since_index: 0,
        })
    }

    /// Opens an existing segment file. Indexes come from their files when those validate and
    /// `trust_indexes` is set; otherwise, and whenever `verify` is set, the segment is scanned.
    ///
    /// With `verify`, every batch's length and CRC are checked and the file is truncated at the
    /// first damaged batch; the returned `Option` then describes the damage found. `contiguous`
    /// (the active segment, which compaction never rewrites) also requires each batch to start
    /// exactly where the previous one ended: the base offset is outside the CRC, so this is what
    /// catches a torn or damaged one.
    pub fn open(
        path: &Path,
        base_offset: i64,
        verify: bool,
        contiguous: bool,
        index_interval: u64,
        now_ms: i64,
    ) -> Result<(Segment, Option<Error>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("opening segment {}", path.display())))?;
        let len =
            file.metadata().map_err(Error::io(format!("reading metadata of {}", path.display())))?.len();
        let mut segment = Segment {
            base_offset,
            file: Arc::new(file),
            path: path.to_path_buf(),
            size: len,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            created_ms: now_ms,
            bytes_since_index: 0,
        };
        if !verify && let Some(()) = segment.load_indexes(len) {
            return Ok((segment, None));
        }
        let damage = segment.rebuild(verify, verify && contiguous, index_interval)?;
        Ok((segment, damage))
    }

    /// Loads index files and the segment tail metadata; `None` if they are missing or damaged.
    fn load_indexes(&mut self, len: u64) -> Option<()> {
        let stem = self.path.with_extension("");
        let offset_index = OffsetIndex::read(&stem.with_extension("index"), len).ok()?;
        let time_index = TimeIndex::read(&stem.with_extension("timeindex"), len).ok()?;
        // Walk batch headers from the last index entry to find the segment's end offset.
        let last_entry_pos = offset_index.lookup(u32::MAX) as u64;
        let mut pos = last_entry_pos;
        let mut next = self.base_offset;
        let mut max_ts = time_index.last_timestamp().unwrap_or(-1);
        let mut header = [0u8; BATCH_HEADER_LEN];
        while pos < len {
            self.file.read_exact_at(&mut header, pos).ok()?;
            let batch_len = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
            if batch_len <= 0 {
                return None;
            }
            let size = batch_len as u64 + LOG_OVERHEAD as u64;
            if pos + size > len {
                return None;
            }
            let base = i64::from_be_bytes(header[0..8].try_into().ok()?);
            let delta = i32::from_be_bytes(header[23..27].try_into().ok()?);
            let ts = i64::from_be_bytes(header[35..43].try_into().ok()?);
            next = base + delta as i64 + 1;
            max_ts = max_ts.max(ts);
            pos += size;
        }
        if pos != len {
            return None;
        }
        self.offset_index = offset_index;
        self.time_index = time_index;
        self.next_offset = next;
        self.max_timestamp = max_ts;
        Some(())
    }

    /// Scans the whole file, rebuilding indexes (and checking CRCs when `verify`).
    fn rebuild(&mut self, verify: bool, contiguous: bool, index_interval: u64) -> Result<Option<Error>> {
        self.offset_index = OffsetIndex::default();
        self.time_index = TimeIndex::default();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.bytes_since_index = 0;
        let len = self.size;
        let file = self.file.clone();
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &*file);
        let mut pos = 0u64;
        let mut buf = BytesMut::new();
        let mut damage = None;
        while pos < len {
            match read_batch(&mut reader, len - pos, &mut buf, verify) {
                Ok(header) => {
                    if header.base_offset < self.next_offset {
                        damage = Some(format!(
                            "batch base offset {} goes backwards (expected ≥ {})",
                            header.base_offset, self.next_offset
                        ));
                        break;
                    }
                    if contiguous && header.base_offset != self.next_offset {
                        damage = Some(format!(
                            "batch base offset {} skips ahead (expected {})",
                            header.base_offset, self.next_offset
                        ));
                        break;
                    }
                    if header.last_offset() - self.base_offset >= u32::MAX as i64 {
                        damage = Some(format!(
                            "batch offsets up to {} lie outside the segment starting at {}",
                            header.last_offset(),
                            self.base_offset
                        ));
                        break;
                    }
                    self.index_batch(&header, pos, index_interval);
                    pos += header.size as u64;
                }
                Err(reason) => {
                    damage = Some(reason);
                    break;
                }
            }
        }
        if let Some(reason) = damage {
            let err = Error::Corrupt { path: self.path.clone(), position: pos, reason };
            self.file.set_len(pos).map_err(Error::io(format!("truncating {}", self.path.display())))?;
            self.file.sync_all().map_err(Error::io(format!("syncing {}", self.path.display())))?;
            self.size = pos;
            return Ok(Some(err));
        }
        Ok(None)
    }

    /// Records index entries for a batch about to live at `position`.
    fn index_batch(&mut self, header: &BatchHeader, position: u64, interval: u64) {
        let relative = (header.base_offset - self.base_offset) as u32;
        if position == 0 || self.bytes_since_index >= interval {
            self.offset_index.push(relative, position as u32);
            if self.time_index.last_timestamp().is_none_or(|t| self.max_timestamp > t)
                && self.max_timestamp >= 0
                && position > 0
            {
                // The entry describes everything *before* this batch.
                self.time_index.push(self.max_timestamp, relative, position as u32);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.size as u64;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        self.next_offset = header.next_offset();
    }

    /// Appends a complete batch whose base offset is already set.
    ///
    /// A failed write (a full disk) is undone: the file is cut back to its last whole batch, so
    /// the segment stays exactly as it was and the caller may retry later (`Error::Io`). If
    /// even that fails the segment's tail is unknown, and the error is
    /// [`Error::StorageOffline`]: the partition must stop (fail-stop).
    pub fn append(&mut self, batch: &[u8], header: &BatchHeader, index_interval: u64) -> Result<()> {
        if let Err(e) = self.file.write_all_at(batch, self.size) {
            if let Err(cut) = self.file.set_len(self.size) {
                return Err(Error::StorageOffline(format!(
                    "{} (a write failed: {e}; removing its partial data failed too: {cut})",
                    self.path.display()
                )));
            }
            return Err(Error::Io { context: format!("appending to {}", self.path.display()), source: e });
        }
        let position = self.size;
        self.index_batch(header, position, index_interval);
        self.size += batch.len() as u64;
        Ok(())
    }

    /// Writes both index files next to the segment.
    pub fn write_indexes(&self) -> Result<()> {
        let stem = self.path.with_extension("");
        self.offset_index.write(&stem.with_extension("index"))?;
        self.time_index.write(&stem.with_extension("timeindex"))
    }

    /// Deletes the segment's files.
    pub fn delete_files(path: &Path) {
        let stem = path.with_extension("");
        for ext in ["log", "index", "timeindex"] {
            let _ = fs::remove_file(stem.with_extension(ext));
        }
    }

    /// Relative offset of `offset` in this segment, clamped to the index's range.
    pub fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32
    }
}

/// Reads the next batch from a sequential reader into `buf` and parses its header.
fn read_batch(
    reader: &mut impl Read,
    remaining: u64,
    buf: &mut BytesMut,
    verify: bool,
) -> std::result::Result<BatchHeader, String> {
    if remaining < BATCH_HEADER_LEN as u64 {
        return Err(format!("{remaining} trailing bytes are too few for a batch header"));
    }
    buf.resize(BATCH_HEADER_LEN, 0);
    reader.read_exact(&mut buf[..]).map_err(|e| format!("read failed: {e}"))?;
    let batch_len = i32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if batch_len < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(format!("batch length {batch_len} is invalid"));
    }
    let size = batch_len as u64 + LOG_OVERHEAD as u64;
    if size > remaining {
        return Err(format!("batch of {size} bytes is cut off after {remaining} bytes (torn write)"));
    }
    buf.resize(size as usize, 0);
    reader.read_exact(&mut buf[BATCH_HEADER_LEN..]).map_err(|e| format!("read failed: {e}"))?;
    let header = BatchHeader::parse(buf).map_err(|e| e.to_string())?;
    if verify {
        header.verify_crc(buf).map_err(|e| e.to_string())?;
    }
    Ok(header)
}

/// Reads `len` bytes at `position` of a segment file.
pub fn read_at(file: &File, path: &Path, position: u64, len: usize) -> Result<Bytes> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, position)
        .map_err(Error::io(format!("reading {} at {position}", path.display())))?;
    Ok(Bytes::from(buf))
}

/// Iterates over the complete batches in a buffer that starts at a batch boundary.
pub fn batches(buf: &Bytes) -> impl Iterator<Item = Result<(BatchHeader, Bytes)>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        match BatchHeader::parse(&buf[pos..]) {
            Ok(h) => {
                let bytes = buf.slice(pos..pos + h.size);
                pos += h.size;
                Some(Ok((h, bytes)))
            }
            Err(e) => {
                pos = buf.len();
                Some(Err(e))
            }
        }
    })
}

/// Calls `f(position, header, batch bytes)` for each batch in `[start, end)` of a segment file,
/// reading in chunks of a few MiB. A batch larger than a chunk is read on its own. Stops early
/// when `f` returns `false`; a batch that runs past `end` is [`Error::Corrupt`].
pub fn for_each_batch(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, BatchHeader, Bytes) -> Result<bool>,
) -> Result<()> {
    const CHUNK: usize = 4 << 20;
    let mut pos = start;
    while pos < end {
        let data = read_at(file, path, pos, ((end - pos) as usize).min(CHUNK))?;
        let mut used = 0usize;
        while data.len() - used >= BATCH_HEADER_LEN {
            let at = pos + used as u64;
            let header = BatchHeader::parse_prefix(&data[used..]).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                position: at,
                reason: e.to_string(),
            })?;
            if used + header.size > data.len() {
                break; // Not wholly in this chunk: read it from its own position next.
            }
            let bytes = data.slice(used..used + header.size);
            used += header.size;
            if !f(at, header, bytes)? {
                return Ok(());
            }
        }
        if used > 0 {
            pos += used as u64;
            continue;
        }
        // The batch at `pos` is larger than a chunk (or cut off): read it whole.
        let header = BatchHeader::parse_prefix(&data).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            position: pos,
            reason: e.to_string(),
        })?;
        if pos + header.size as u64 > end {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                position: pos,
                reason: format!("batch of {} bytes runs past the end of the segment", header.size),
            });
        }
        let bytes = read_at(file, path, pos, header.size)?;
        let size = header.size as u64;
        if !f(pos, header, bytes)? {
            return Ok(());
        }
        pos += size;
    }
    Ok(())
}
