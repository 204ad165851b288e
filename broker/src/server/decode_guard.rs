//! A pre-decoding pass that keeps hostile array counts from reaching the allocator.
//!
//! The `kafka-protocol` decoders call `Vec::with_capacity(count)` with the element count read
//! from the wire, before reading any element. A 20-byte frame claiming 2³¹ topics therefore
//! asks for ~150 GB, and a failed allocation aborts the whole process — every connection, not
//! just the offending one.
//!
//! Every array element occupies at least one byte on the wire, so a count larger than the bytes
//! left in the frame can never decode. Before the real decode, [`check`] decodes the request
//! once over [`CountGuard`], a buffer that clamps every non-negative `int32` and every unsigned
//! varint larger than the bytes left to `left + 1` (varints are rewritten in place, keeping
//! their width). For ordinary fields (timeouts, byte limits) the clamped value is simply wrong
//! in this throw-away decode and the layout is unchanged; for lengths of strings and bytes the
//! real decode fails on its own bounds check; for an array count, the clamped count still needs
//! more bytes than remain, so this pass fails. Hence:
//!
//! * if the guarded pass fails, so would the real decode (the frame is rejected before any
//!   large allocation);
//! * if it succeeds, no array count exceeded the bytes left, so the real decode allocates at
//!   most in proportion to the frame, which the frame-size cap bounds.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut, TryGetError};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::protocol::buf::ByteBuf;

use crate::error::{Error, Result};

/// Decodes `body` as `T` over a [`CountGuard`]; an error means the real decode must not run.
pub(crate) fn check<T: Decodable>(body: &Bytes, version: i16) -> Result<()> {
    let mut guard = CountGuard { data: BytesMut::from(&body[..]), pos: 0, varint_end: 0 };
    T::decode(&mut guard, version)
        .map(|_| ())
        .map_err(|e| Error::InvalidRequest(format!("malformed request body (array counts checked): {e}")))
}

/// A buffer over a private copy of the frame that clamps oversized counts (see module docs).
pub(crate) struct CountGuard {
    data: BytesMut,
    pos: usize,
    /// End of the varint being read, so its continuation bytes are not re-examined.
    varint_end: usize,
}

impl CountGuard {
    /// If an unsigned varint starting here is larger than the bytes after it + 1 (as a compact
    /// count, `value - 1`), rewrites it in place to that bound, keeping its width.
    ///
    /// Reads as kafka-protocol's decoder does: at most 5 bytes, and a 5th byte ends the varint
    /// even if its continuation bit is set (the decoder does not reject that; the value is the
    /// low 32 bits).
    fn clamp_varint_here(&mut self) {
        let mut value: u64 = 0;
        let mut width = 0;
        for (i, &b) in self.data[self.pos..].iter().take(5).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            width = i + 1;
            if b < 0x80 {
                break;
            }
        }
        if width == 0 || (width < 5 && self.data[self.pos + width - 1] >= 0x80) {
            return; // Truncated: the decoder will fail on it.
        }
        let value = u64::from(value as u32);
        self.varint_end = self.pos + width;
        let left = (self.data.len() - self.varint_end) as u64;
        let bound = left + 2;
        if value <= bound {
            return;
        }
        for i in 0..width {
            let group = ((bound >> (7 * i)) & 0x7f) as u8;
            self.data[self.pos + i] = if i + 1 < width { group | 0x80 } else { group };
        }
    }
}

impl Buf for CountGuard {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn chunk(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    fn advance(&mut self, cnt: usize) {
        self.pos = (self.pos + cnt).min(self.data.len());
    }

    fn try_get_u8(&mut self) -> std::result::Result<u8, TryGetError> {
        if self.pos >= self.varint_end {
            self.clamp_varint_here();
        }
        let b = *self.data.get(self.pos).ok_or(TryGetError { requested: 1, available: 0 })?;
        self.pos += 1;
        Ok(b)
    }

    fn try_get_i32(&mut self) -> std::result::Result<i32, TryGetError> {
        let available = self.remaining();
        if available < 4 {
            return Err(TryGetError { requested: 4, available });
        }
        let p = self.pos;
        let value = i32::from_be_bytes([self.data[p], self.data[p + 1], self.data[p + 2], self.data[p + 3]]);
        self.pos += 4;
        let bound = self.remaining().saturating_add(1);
        Ok(if value > 0 && value as usize > bound { i32::try_from(bound).unwrap_or(i32::MAX) } else { value })
    }
}

impl ByteBuf for CountGuard {
    fn peek_bytes(&mut self, r: Range<usize>) -> Bytes {
        let start = (self.pos + r.start).min(self.data.len());
        let end = (self.pos + r.end).min(self.data.len()).max(start);
        Bytes::copy_from_slice(&self.data[start..end])
    }

    fn get_bytes(&mut self, size: usize) -> Bytes {
        let end = (self.pos + size).min(self.data.len());
        let out = Bytes::copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        out
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;

    use super::*;

    #[test]
    fn a_huge_array_count_is_rejected_before_decoding() {
        // Metadata v1: topics array claiming i32::MAX entries, then 8 bytes.
        let mut body = (i32::MAX).to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 8]);
        assert!(check::<MetadataRequest>(&Bytes::from(body), 1).is_err());
        // Flexible v9: a compact array whose varint count is u32::MAX.
        let body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]);
        assert!(check::<MetadataRequest>(&body, 9).is_err());
        // Found by the kafka_request fuzz target: a compact count whose 5th byte still has
        // its continuation bit. The decoder stops after 5 bytes and takes the low 32 bits
        // (here ~4 billion FetchTopics, a 65 GB allocation); the guard used to treat it as
        // truncated and let it through.
        let body = Bytes::from_static(&[0xc2, 0xc2, 0xc2, 0xc2, 0xc2, 0xc2, 0xc2, 0, 0, 0]);
        assert!(check::<MetadataRequest>(&body, 9).is_err());
        // The count right at the end of the frame.
        assert!(check::<MetadataRequest>(&Bytes::from((i32::MAX).to_be_bytes().to_vec()), 1).is_err());
    }

    #[test]
    fn ordinary_requests_pass_with_large_non_count_fields() {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
        use kafka_protocol::protocol::{Encodable, StrBytes};
        let mut p = FetchPartition::default();
        p.partition_max_bytes = i32::MAX;
        p.fetch_offset = 1 << 40;
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_static_str("t"));
        t.partitions.push(p);
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_wait_ms = 500;
        req.max_bytes = 52_428_800;
        req.topics.push(t);
        for v in [4, 11, 12] {
            let mut buf = BytesMut::new();
            req.encode(&mut buf, v).unwrap();
            check::<FetchRequest>(&buf.freeze(), v).unwrap();
        }
    }
}
