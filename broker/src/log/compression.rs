//! Bounded decompression of record-batch bodies (gzip, Snappy, LZ4, Zstandard).
//!
//! A compressed batch of a few kilobytes can expand to gigabytes (a decompression bomb). Every
//! codec here therefore decompresses *incrementally* into a buffer that may never grow past the
//! caller's limit: the limit is checked while decompressing, before memory is committed, never
//! on the finished output. Peak memory is at most about twice the limit (a growing `Vec`).
//!
//! * gzip, LZ4 (frame format), zstd: streaming readers behind `Read::take(limit + 1)`; zstd's
//!   window is capped too (a frame may ask for a 2 GiB window).
//! * Snappy: Kafka's xerial framing (`\x82SNAPPY\0`, version, then length-prefixed raw
//!   blocks) or one raw Snappy block; each block's declared length is checked against the room
//!   left before the block is allocated.
//!
//! Used for produce validation (`message.max.bytes` on the decompressed size), compaction and
//! record decoding.

use std::io::Read;

use bytes::Bytes;

use super::record_batch::Compression;
use crate::error::{Error, Result};

/// Largest zstd window accepted (2^24 = 16 MiB); Kafka clients use far smaller ones.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// Kafka's (xerial snappy-java) framing header: magic, version 1, compatible version 1.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// Decompresses `body` (a batch's records section) with `codec`, failing with
/// [`Error::MessageTooLarge`] as soon as the output would exceed `limit` bytes.
pub fn decompress(codec: Compression, body: &[u8], limit: usize) -> Result<Bytes> {
    let out = match codec {
        Compression::None => {
            if body.len() > limit {
                return Err(too_large(body.len(), limit));
            }
            return Ok(Bytes::copy_from_slice(body));
        }
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(body), limit, codec)?,
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(body).map_err(|e| corrupt(codec, &e))?;
            read_bounded(decoder, limit, codec)?
        }
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| corrupt(codec, &e))?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| corrupt(codec, &e))?;
            read_bounded(decoder, limit, codec)?
        }
        Compression::Snappy => snappy(body, limit)?,
    };
    Ok(Bytes::from(out))
}

/// Reads a decoder to its end, or fails once more than `limit` bytes come out.
fn read_bounded(decoder: impl Read, limit: usize, codec: Compression) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(&mut out).map_err(|e| corrupt(codec, &e))?;
    if out.len() > limit {
        return Err(too_large(out.len(), limit));
    }
    Ok(out)
}

fn snappy(body: &[u8], limit: usize) -> Result<Vec<u8>> {
    if body.len() < XERIAL_HEADER_LEN || &body[..XERIAL_MAGIC.len()] != XERIAL_MAGIC {
        let mut out = Vec::new();
        snappy_block(body, &mut out, limit)?;
        return Ok(out);
    }
    let mut out = Vec::new();
    let mut rest = &body[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt(Compression::Snappy, &"truncated xerial block length"));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if len > rest.len() {
            return Err(corrupt(Compression::Snappy, &format!("xerial block of {len} bytes is cut off")));
        }
        snappy_block(&rest[..len], &mut out, limit)?;
        rest = &rest[len..];
    }
    Ok(out)
}

/// Appends one raw Snappy block to `out`, checking its declared length first.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(Compression::Snappy, &e))?;
    let total = out.len().saturating_add(len);
    if total > limit {
        return Err(too_large(total, limit));
    }
    let start = out.len();
    out.resize(total, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt(Compression::Snappy, &e))?;
    out.truncate(start + written);
    Ok(())
}

fn too_large(size: usize, max: usize) -> Error {
    Error::MessageTooLarge { size, max }
}

fn corrupt(codec: Compression, e: &dyn std::fmt::Display) -> Error {
    Error::InvalidRecordBatch(format!("cannot decompress {codec:?} batch: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zeros(n: usize) -> Vec<u8> {
        vec![0u8; n]
    }

    #[test]
    fn every_codec_round_trips_within_the_limit() {
        let data: Vec<u8> = (0..50_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::stream::encode_all(&data[..], 3).unwrap();
        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz.write_all(&data).unwrap();
        let lz = lz.finish().0;
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        for chunk in data.chunks(32 * 1024) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        for (codec, body) in [
            (Compression::Gzip, gz),
            (Compression::Zstd, zs),
            (Compression::Lz4, lz),
            (Compression::Snappy, raw),
            (Compression::Snappy, xerial),
        ] {
            assert_eq!(decompress(codec, &body, data.len()).unwrap(), data, "{codec:?}");
            let err = decompress(codec, &body, data.len() - 1).unwrap_err();
            assert!(matches!(err, Error::MessageTooLarge { .. }), "{codec:?}: {err}");
        }
    }

    #[test]
    fn decompression_bombs_stop_at_the_limit() {
        // 256 MiB of zeros compresses to a few hundred kilobytes (gzip) or less.
        let big = zeros(256 << 20);
        let zs = zstd::stream::encode_all(&big[..], 3).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&big).unwrap();
        let gz = gz.finish().unwrap();
        drop(big);
        for (codec, body) in [(Compression::Zstd, zs), (Compression::Gzip, gz)] {
            let err = decompress(codec, &body, 1 << 20).unwrap_err();
            assert!(matches!(err, Error::MessageTooLarge { max: 1_048_576, .. }), "{codec:?}: {err}");
        }
        // A raw Snappy block that claims 4 GiB is refused before anything is allocated.
        let mut claim = Vec::new();
        let mut n: u64 = u32::MAX as u64;
        while n >= 0x80 {
            claim.push((n as u8) | 0x80);
            n >>= 7;
        }
        claim.push(n as u8);
        claim.extend_from_slice(&[0; 8]);
        let err = decompress(Compression::Snappy, &claim, 1 << 20).unwrap_err();
        assert!(matches!(err, Error::MessageTooLarge { .. }), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Compression::Gzip, Compression::Zstd, Compression::Lz4, Compression::Snappy] {
            for body in [&b""[..], b"\x00", b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff", b"hello"] {
                let _ = decompress(codec, body, 1 << 20);
            }
        }
    }
}
