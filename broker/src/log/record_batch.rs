//! Kafka RecordBatch v2: the on-disk and on-the-wire unit of the log.
//!
//! The broker stores exactly the bytes a Kafka client sends, after it has assigned offsets, so a
//! fetch can hand stored batches back without decoding them. This module knows just enough of the
//! format to do that safely:
//!
//! ```text
//!  0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
//! 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
//! 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 | 61 records…
//! ```
//!
//! The CRC-32C covers everything from `attributes` to the end, so the broker may rewrite
//! `baseOffset` and `partitionLeaderEpoch` without recomputing it.
//!
//! [`RecordBatchBuilder`] encodes records (uncompressed) for the in-process produce API, and
//! [`BatchHeader::records`] decodes the records of a stored batch, decompressing when needed.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Size of the fixed RecordBatch v2 header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Size of the `baseOffset` + `batchLength` prefix that frames each batch in a log.
pub const LOG_OVERHEAD: usize = 12;
const MAGIC_V2: i8 = 2;
const CRC_START: usize = 21;
/// Attributes bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attributes bit 5: the batch is a control batch (a transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;

/// Compression codec of a batch (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records are stored as-is.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing or raw).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn from_attributes(attributes: i16) -> Result<Self> {
        Ok(match attributes & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => {
                return Err(Error::InvalidRecordBatch(format!(
                    "unknown compression codec {other} in batch attributes"
                )));
            }
        })
    }
}

/// One record decoded from a batch. Key, value and header values share the batch's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch (create or log-append time).
    pub timestamp: i64,
    /// Record key; `None` is Kafka's null key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers in their original order; duplicate keys are kept.
    pub headers: Vec<Header>,
}

/// A record header. Kafka allows duplicate keys and null values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key (UTF-8 by convention, not enforced).
    pub key: Bytes,
    /// Header value; `None` is a null header value.
    pub value: Option<Bytes>,
}

/// The parsed fixed header of one stored batch, plus the batch bytes.
#[derive(Debug, Clone)]
pub struct BatchHeader {
    /// First offset covered by the batch.
    pub base_offset: i64,
    /// Total size of the batch including the 12-byte log overhead.
    pub size: usize,
    /// Batch attributes (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records the batch declares.
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the fixed header of the batch at the start of `buf` without checking the CRC.
    ///
    /// Fails if the buffer is shorter than the declared length, or if the batch is not magic 2.
    /// Callers that need integrity also call [`BatchHeader::verify_crc`].
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        let header = Self::parse_prefix(buf)?;
        if buf.len() < header.size {
            return Err(Error::InvalidRecordBatch(format!(
                "batch declares {} bytes, only {} present",
                header.size,
                buf.len()
            )));
        }
        Ok(header)
    }

    /// Parses the fixed header at the start of `buf`; the rest of the batch may be absent.
    pub fn parse_prefix(buf: &[u8]) -> Result<BatchHeader> {
        if buf.len() < BATCH_HEADER_LEN {
            return Err(Error::InvalidRecordBatch(format!(
                "batch header needs {BATCH_HEADER_LEN} bytes, only {} present",
                buf.len()
            )));
        }
        let batch_length = be_i32(buf, 8);
        if batch_length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(Error::InvalidRecordBatch(format!(
                "batch length {batch_length} is smaller than a batch header"
            )));
        }
        let size = batch_length as usize + LOG_OVERHEAD;
        let magic = buf[16] as i8;
        if magic != MAGIC_V2 {
            return Err(Error::InvalidRecordBatch(format!(
                "unsupported record batch magic {magic}; only v2 (Kafka 0.11+) is accepted"
            )));
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, 0),
            size,
            attributes: be_i16(buf, 21),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        };
        if header.last_offset_delta < 0 || header.records_count < 0 {
            return Err(Error::InvalidRecordBatch(format!(
                "negative lastOffsetDelta ({}) or record count ({})",
                header.last_offset_delta, header.records_count
            )));
        }
        Compression::from_attributes(header.attributes)?;
        Ok(header)
    }

    /// Checks the CRC-32C of the batch at the start of `buf`; a `buf` shorter than the batch
    /// is an error (the header may come from [`BatchHeader::parse_prefix`]).
    pub fn verify_crc(&self, buf: &[u8]) -> Result<()> {
        if buf.len() < self.size {
            return Err(Error::InvalidRecordBatch(format!(
                "cannot check the CRC: batch declares {} bytes, only {} present",
                self.size,
                buf.len()
            )));
        }
        let stored = be_u32(buf, 17);
        let computed = crc32c::crc32c(&buf[CRC_START..self.size]);
        if stored != computed {
            return Err(Error::InvalidRecordBatch(format!(
                "CRC mismatch: batch says {stored:#010x}, contents give {computed:#010x}"
            )));
        }
        Ok(())
    }

    /// Last offset covered by the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Offset after the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Compression codec.
    pub fn compression(&self) -> Compression {
        // `parse` already rejected unknown codecs.
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    /// Whether this is a transaction control batch (its records are markers, not data).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Whether the batch was written inside a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the batch uses log-append time instead of create time.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    /// Decodes the records of the batch stored in `batch` (exactly `self.size` bytes).
    ///
    /// Compressed batches are decompressed; decompressed data is bounded by
    /// `max_uncompressed` while decompressing, to protect the broker from decompression bombs.
    pub fn records(&self, batch: &Bytes, max_uncompressed: usize) -> Result<Vec<Record>> {
        let data = self.records_section(batch, max_uncompressed)?;
        // Each record takes at least 7 bytes; never trust the declared count for allocation.
        let capacity = (self.records_count as usize).min(data.len() / 7 + 1);
        let mut records = Vec::with_capacity(capacity);
        let slice = |r: &Range<usize>| data.slice(r.clone());
        self.walk_records(&data, |_, f| {
            let timestamp = if self.is_log_append_time() {
                self.max_timestamp
            } else {
                self.base_timestamp.wrapping_add(f.timestamp_delta)
            };
            records.push(Record {
                offset: self.base_offset + f.offset_delta as i64,
                timestamp,
                key: f.key.as_ref().map(slice),
                value: f.value.as_ref().map(slice),
                headers: f
                    .headers
                    .iter()
                    .map(|(k, v)| Header { key: slice(k), value: v.as_ref().map(slice) })
                    .collect(),
            });
            Ok(())
        })?;
        Ok(records)
    }

    /// The records section of the batch stored in `batch` (exactly `self.size` bytes),
    /// decompressed if needed; decompression stops with [`Error::MessageTooLarge`] as soon as
    /// the output would exceed `max_uncompressed`.
    pub fn records_section(&self, batch: &Bytes, max_uncompressed: usize) -> Result<Bytes> {
        let body = batch.slice(BATCH_HEADER_LEN..self.size);
        match self.compression() {
            Compression::None => Ok(body),
            codec => super::compression::decompress(codec, &body, max_uncompressed),
        }
    }

    /// Walks the `records_count` records at the start of a records section without copying
    /// them, calling `f(index, fields)` for each. Returns the bytes the records took (callers
    /// that require an exact fit compare it with `data.len()`).
    pub fn walk_records(
        &self,
        data: &[u8],
        mut f: impl FnMut(usize, &RecordFields) -> Result<()>,
    ) -> Result<usize> {
        let mut r = Reader { buf: data, pos: 0 };
        let mut fields = RecordFields::default();
        for i in 0..self.records_count.max(0) as usize {
            read_record(&mut r, &mut fields)?;
            f(i, &fields)?;
        }
        Ok(r.pos)
    }
}

/// The fields of one record, as byte ranges of its records section.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordFields {
    /// Bytes the record takes, including its length prefix.
    pub len: usize,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// The key, or `None` for a null key.
    pub key: Option<Range<usize>>,
    /// The value, or `None` for a tombstone.
    pub value: Option<Range<usize>>,
    /// Header keys and values, in order.
    pub headers: Vec<(Range<usize>, Option<Range<usize>>)>,
}

/// Reads one length-prefixed record into `out` (reusing its header list).
fn read_record(r: &mut Reader<'_>, out: &mut RecordFields) -> Result<()> {
    let start = r.pos;
    let length = r.varint()?;
    if length < 0 || r.remaining() < length as usize {
        return Err(Error::InvalidRecordBatch(format!("record length {length} out of bounds")));
    }
    let end = r.pos + length as usize;
    let _attributes = r.byte()?;
    out.timestamp_delta = r.varlong()?;
    out.offset_delta = r.varint()?;
    out.key = r.nullable_range()?;
    out.value = r.nullable_range()?;
    let header_count = r.varint()?;
    if header_count < 0 || header_count as usize > r.remaining() {
        return Err(Error::InvalidRecordBatch(format!("bad header count {header_count}")));
    }
    out.headers.clear();
    for _ in 0..header_count {
        let key = r
            .nullable_range()?
            .ok_or_else(|| Error::InvalidRecordBatch("record header with a null key".to_string()))?;
        let value = r.nullable_range()?;
        out.headers.push((key, value));
    }
    if r.pos != end {
        return Err(Error::InvalidRecordBatch(format!(
            "record declares {length} bytes but its fields take {}",
            length as usize + r.pos - end
        )));
    }
    out.len = r.pos - start;
    Ok(())
}

/// Rewrites the base offset of the batch at the start of `buf` (not covered by the CRC).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Switches a batch to log-append time with the given timestamp and recomputes its CRC.
pub fn set_log_append_time(buf: &mut [u8], size: usize, timestamp: i64) {
    let attributes = be_i16(buf, 21) | 0x08;
    buf[21..23].copy_from_slice(&attributes.to_be_bytes());
    set_max_timestamp(buf, size, timestamp);
}

/// Rewrites the batch's `maxTimestamp` and recomputes its CRC.
pub fn set_max_timestamp(buf: &mut [u8], size: usize, timestamp: i64) {
    buf[35..43].copy_from_slice(&timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&buf[CRC_START..size]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A record to be written by [`RecordBatchBuilder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// Key bytes, or `None` for a null key.
    pub key: Option<Bytes>,
    /// Value bytes, or `None` for a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Create-time timestamp in ms; `None` means "now" at build time.
    pub timestamp: Option<i64>,
}

impl NewRecord {
    /// A record with a key and value and no headers, timestamped when the batch is built.
    pub fn new(key: Option<impl Into<Bytes>>, value: Option<impl Into<Bytes>>) -> Self {
        NewRecord {
            key: key.map(Into::into),
            value: value.map(Into::into),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the record timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<Bytes>, value: Option<impl Into<Bytes>>) -> Self {
        self.headers.push(Header { key: key.into(), value: value.map(Into::into) });
        self
    }
}

/// Encodes records into one uncompressed RecordBatch v2.
///
/// ```
/// use brook_broker::log::record_batch::{BatchHeader, NewRecord, RecordBatchBuilder};
/// let mut builder = RecordBatchBuilder::new(1_700_000_000_000);
/// builder.push(&NewRecord::new(Some("k"), Some("v")).with_timestamp(1_700_000_000_123));
/// let batch = builder.finish().freeze();
/// let header = BatchHeader::parse(&batch).unwrap();
/// header.verify_crc(&batch).unwrap();
/// let records = header.records(&batch, 1 << 20).unwrap();
/// assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
/// assert_eq!(records[0].timestamp, 1_700_000_000_123);
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    default_timestamp: i64,
    producer: Option<(i64, i16, i32)>,
    attributes: i16,
}

impl RecordBatchBuilder {
    /// Starts a batch; records without a timestamp get `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        let mut buf = BytesMut::with_capacity(256);
        buf.resize(BATCH_HEADER_LEN, 0);
        RecordBatchBuilder {
            buf,
            count: 0,
            base_timestamp: -1,
            max_timestamp: -1,
            default_timestamp: now_ms,
            producer: None,
            attributes: 0,
        }
    }

    /// Marks the batch as written by an idempotent producer.
    pub fn with_producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = Some((producer_id, epoch, base_sequence));
        self
    }

    /// Marks the batch as part of a transaction of its producer (see [`Self::with_producer`]).
    pub fn transactional(mut self) -> Self {
        self.attributes |= ATTR_TRANSACTIONAL;
        self
    }

    /// Marks the batch as a control batch (used for transaction markers).
    pub(crate) fn control(mut self) -> Self {
        self.attributes |= ATTR_CONTROL | ATTR_TRANSACTIONAL;
        self
    }

    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size so far, in bytes.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record; its offset delta is its position in the batch.
    pub fn push(&mut self, record: &NewRecord) {
        let timestamp = record.timestamp.unwrap_or(self.default_timestamp);
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let delta = self.count as i64;
        put_record(
            &mut self.buf,
            timestamp - self.base_timestamp,
            delta,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        self.count += 1;
    }

    /// Finishes the batch with base offset 0 (the log assigns the real one).
    pub fn finish(mut self) -> BytesMut {
        let size = self.buf.len();
        let (producer_id, epoch, sequence) = self.producer.unwrap_or((-1, -1, -1));
        let b = &mut self.buf[..];
        b[0..8].copy_from_slice(&0i64.to_be_bytes());
        b[8..12].copy_from_slice(&((size - LOG_OVERHEAD) as i32).to_be_bytes());
        b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        b[16] = MAGIC_V2 as u8;
        b[21..23].copy_from_slice(&self.attributes.to_be_bytes());
        b[23..27].copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
        b[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        b[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        b[43..51].copy_from_slice(&producer_id.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&sequence.to_be_bytes());
        b[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_START..size]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        self.buf
    }
}

/// Encodes records into a batch that keeps their original offsets (used by compaction).
///
/// `base_offset` and `last_offset_delta` are those of the batch the records came from, so the
/// rewritten batch covers the same offset range even when records were removed.
pub(crate) fn rebuild_batch(original: &BatchHeader, records: &[Record]) -> BytesMut {
    let mut builder = RecordBatchBuilder::new(original.base_timestamp);
    // A compacted transactional batch stays transactional, so read_committed consumers still
    // match it against its transaction's marker.
    builder.attributes = original.attributes & ATTR_TRANSACTIONAL;
    let base_ts = records.first().map_or(original.base_timestamp, |r| r.timestamp);
    builder.base_timestamp = base_ts;
    for record in records {
        put_record(
            &mut builder.buf,
            record.timestamp - base_ts,
            record.offset - original.base_offset,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        builder.count += 1;
        builder.max_timestamp = builder.max_timestamp.max(record.timestamp);
    }
    let last_delta = original.last_offset_delta;
    let mut buf = builder.finish();
    buf[0..8].copy_from_slice(&original.base_offset.to_be_bytes());
    buf[23..27].copy_from_slice(&last_delta.to_be_bytes());
    buf[43..51].copy_from_slice(&original.producer_id.to_be_bytes());
    buf[51..53].copy_from_slice(&original.producer_epoch.to_be_bytes());
    buf[53..57].copy_from_slice(&original.base_sequence.to_be_bytes());
    let size = buf.len();
    let crc = crc32c::crc32c(&buf[CRC_START..size]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// Writes one record (length-prefixed) straight into the batch buffer.
fn put_record(
    buf: &mut BytesMut,
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let nullable_len =
        |b: Option<&[u8]>| b.map_or(varlong_len(-1), |b| varlong_len(b.len() as i64) + b.len());
    let mut body = 1
        + varlong_len(timestamp_delta)
        + varlong_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value);
    body += varlong_len(headers.len() as i64);
    for h in headers {
        body += nullable_len(Some(&h.key)) + nullable_len(h.value.as_deref());
    }
    buf.reserve(body + 5);
    put_varlong_buf(buf, body as i64);
    buf.put_u8(0);
    put_varlong_buf(buf, timestamp_delta);
    put_varlong_buf(buf, offset_delta);
    put_nullable_buf(buf, key);
    put_nullable_buf(buf, value);
    put_varlong_buf(buf, headers.len() as i64);
    for h in headers {
        put_nullable_buf(buf, Some(&h.key));
        put_nullable_buf(buf, h.value.as_deref());
    }
}

fn varlong_len(value: i64) -> usize {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varlong_buf(out: &mut BytesMut, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn put_nullable_buf(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong_buf(out, -1),
        Some(b) => {
            put_varlong_buf(out, b.len() as i64);
            out.put_slice(b);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| Error::InvalidRecordBatch("record truncated".to_string()))?;
        self.pos += 1;
        Ok(b)
    }

    fn varlong(&mut self) -> Result<i64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(Error::InvalidRecordBatch("varint longer than 10 bytes".to_string()))
    }

    fn varint(&mut self) -> Result<i32> {
        let v = self.varlong()?;
        i32::try_from(v).map_err(|_| Error::InvalidRecordBatch(format!("varint {v} overflows i32")))
    }

    fn nullable_range(&mut self) -> Result<Option<Range<usize>>> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err(Error::InvalidRecordBatch(format!(
                "field of {len} bytes runs past the end of the record"
            )));
        }
        let out = self.pos..self.pos + len;
        self.pos += len;
        Ok(Some(out))
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> BytesMut {
        let mut b = RecordBatchBuilder::new(1000);
        for i in 0..n {
            b.push(
                &NewRecord::new(Some(format!("k{i}")), Some(format!("v{i}")))
                    .with_timestamp(1000 + i as i64)
                    .with_header("h", Some("1"))
                    .with_header("h", None::<Bytes>),
            );
        }
        b.finish()
    }

    #[test]
    fn crc_check_of_a_cut_off_batch_is_an_error_not_a_panic() {
        // Found by the record_batch fuzz target: a header parsed with `parse_prefix` whose
        // declared size runs past the buffer made `verify_crc` slice out of bounds.
        let batch = sample(3);
        let h = BatchHeader::parse_prefix(&batch).unwrap();
        for cut in [61, batch.len() - 1] {
            assert!(matches!(h.verify_crc(&batch[..cut]), Err(Error::InvalidRecordBatch(_))));
        }
        h.verify_crc(&batch).unwrap();
    }

    #[test]
    fn round_trip_keeps_duplicate_headers_and_offsets() {
        let mut batch = sample(3);
        set_base_offset(&mut batch, 40);
        let batch = batch.freeze();
        let h = BatchHeader::parse(&batch).unwrap();
        h.verify_crc(&batch).unwrap();
        assert_eq!((h.base_offset, h.last_offset(), h.records_count), (40, 42, 3));
        let recs = h.records(&batch, 1 << 20).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2].offset, 42);
        assert_eq!(recs[2].timestamp, 1002);
        assert_eq!(recs[1].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(recs[0].headers.len(), 2);
        assert_eq!(recs[0].headers[1].value, None);
    }

    #[test]
    fn flipped_byte_fails_crc() {
        let mut batch = sample(2);
        let n = batch.len();
        batch[n - 3] ^= 0xff;
        let h = BatchHeader::parse(&batch).unwrap();
        assert!(matches!(h.verify_crc(&batch), Err(Error::InvalidRecordBatch(_))));
    }

    #[test]
    fn truncated_batch_is_an_error_not_a_panic() {
        let batch = sample(2);
        for cut in 0..batch.len() {
            assert!(BatchHeader::parse(&batch[..cut]).is_err());
        }
    }

    #[test]
    fn kafka_protocol_decoder_reads_our_batches() {
        let mut batch = sample(2).freeze();
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut batch).unwrap();
        assert_eq!(set.records.len(), 2);
        assert_eq!(set.records[1].value.as_deref(), Some(&b"v1"[..]));
    }

    #[test]
    fn compressed_batches_from_kafka_protocol_decode() {
        use kafka_protocol::records::{
            Compression as C, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        for codec in [C::Gzip, C::Snappy, C::Lz4, C::Zstd] {
            let recs: Vec<KRecord> = (0..5)
                .map(|i| KRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: i,
                    // The encoder starts a new batch when offset - sequence changes.
                    sequence: i as i32,
                    timestamp: 5000 + i,
                    key: Some(Bytes::from(format!("key-{i}"))),
                    value: Some(Bytes::from(vec![b'x'; 100])),
                    headers: Default::default(),
                })
                .collect();
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                &recs,
                &RecordEncodeOptions { version: 2, compression: codec },
            )
            .unwrap();
            let buf = buf.freeze();
            let h = BatchHeader::parse(&buf).unwrap();
            h.verify_crc(&buf).unwrap();
            let out = h.records(&buf, 1 << 20).unwrap();
            assert_eq!(out.len(), 5, "{codec:?}");
            assert_eq!(out[4].key.as_deref(), Some(&b"key-4"[..]));
            assert_eq!(out[4].timestamp, 5004);
            // A tiny decompression budget is enforced.
            assert!(h.records(&buf, 10).is_err());
        }
    }
}
