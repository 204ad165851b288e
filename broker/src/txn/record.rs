//! The records of `__transaction_state`, in Kafka's layout (`TransactionLogKey` v0 and
//! `TransactionLogValue` v0, non-flexible), so tools that read Kafka's topic can read Brook's:
//!
//! ```text
//! key:   version i16 = 0 | transactional id (i16 length + UTF-8)
//! value: version i16 = 0 | producer id i64 | producer epoch i16 | timeout ms i32 | status i8
//!        | partitions: i32 count (-1 = null) × [topic (i16 length + UTF-8) | i32 count × partition i32]
//!        | last update ms i64 | start ms i64
//! ```
//!
//! The last record of a key wins; a null value (tombstone) removes the id. The topic is
//! compacted, so its size follows the number of transactional ids, not of transactions.

use std::collections::BTreeSet;

use bytes::Buf;

use super::metadata::{TxnMetadata, TxnState};
use crate::error::{Error, Result};

/// Encodes the key of a transactional id.
pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    put_string(&mut out, transactional_id);
    out
}

/// Decodes a key into its transactional id.
pub fn decode_key(bytes: &[u8]) -> Result<String> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version != 0 {
        return Err(corrupt(format!("transaction log key version {version} is unknown")));
    }
    r.string()
}

/// Encodes the state of a transactional id.
pub fn encode_value(meta: &TxnMetadata) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&meta.producer_id.to_be_bytes());
    out.extend_from_slice(&meta.producer_epoch.to_be_bytes());
    out.extend_from_slice(&meta.timeout_ms.to_be_bytes());
    out.push(meta.state.id() as u8);
    if meta.state == TxnState::Empty {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    } else {
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in &meta.partitions {
            match topics.last_mut() {
                Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
                _ => topics.push((topic.as_str(), vec![*partition])),
            }
        }
        out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            put_string(&mut out, topic);
            out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
            for p in partitions {
                out.extend_from_slice(&p.to_be_bytes());
            }
        }
    }
    out.extend_from_slice(&meta.last_update_ms.to_be_bytes());
    out.extend_from_slice(&meta.start_ms.to_be_bytes());
    out
}

/// Decodes the stored state of `transactional_id`.
pub fn decode_value(transactional_id: &str, bytes: &[u8]) -> Result<TxnMetadata> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version != 0 {
        return Err(corrupt(format!("transaction log value version {version} is unknown")));
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let status = r.i8()?;
    let state = TxnState::from_id(status).ok_or_else(|| corrupt(format!("transaction status {status}")))?;
    let mut partitions = BTreeSet::new();
    let topics = r.i32()?;
    for _ in 0..topics.max(0) {
        let topic = r.string()?;
        let count = r.i32()?;
        if count < 0 || count as usize > r.remaining() / 4 {
            return Err(corrupt(format!("partition count {count}")));
        }
        for _ in 0..count {
            partitions.insert((topic.clone(), r.i32()?));
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Ok(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        last_producer_epoch: -1,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
    })
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Transactional ids and topic names are far below 32 KiB (checked on input).
    out.extend_from_slice(&(s.len().min(i16::MAX as usize) as i16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

fn corrupt(reason: String) -> Error {
    Error::Corrupt { path: std::path::PathBuf::from(super::TRANSACTION_STATE_TOPIC), position: 0, reason }
}

/// A reader of the big-endian fields above; any short read is a corrupt record.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.0.len()
    }

    fn i8(&mut self) -> Result<i8> {
        self.0.try_get_i8().map_err(truncated)
    }

    fn i16(&mut self) -> Result<i16> {
        self.0.try_get_i16().map_err(truncated)
    }

    fn i32(&mut self) -> Result<i32> {
        self.0.try_get_i32().map_err(truncated)
    }

    fn i64(&mut self) -> Result<i64> {
        self.0.try_get_i64().map_err(truncated)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.i16()?;
        if len < 0 || len as usize > self.0.len() {
            return Err(corrupt(format!("string of length {len} in {} bytes", self.0.len())));
        }
        let (bytes, rest) = self.0.split_at(len as usize);
        self.0 = rest;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("string is not UTF-8".to_string()))
    }
}

fn truncated(e: bytes::TryGetError) -> Error {
    corrupt(format!("record truncated: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(state: TxnState, partitions: &[(&str, i32)]) -> TxnMetadata {
        TxnMetadata {
            transactional_id: "app-1".to_string(),
            producer_id: 4000,
            producer_epoch: 7,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state,
            partitions: partitions.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            start_ms: 1_700_000_000_000,
            last_update_ms: 1_700_000_000_500,
        }
    }

    #[test]
    fn byte_layout_matches_kafkas_v0_value() {
        let m = meta(TxnState::Ongoing, &[("a", 0), ("a", 2), ("b", 1)]);
        let v = encode_value(&m);
        // version, pid, epoch, timeout, status
        assert_eq!(&v[..2], &[0, 0]);
        assert_eq!(&v[2..10], &4000i64.to_be_bytes());
        assert_eq!(&v[10..12], &7i16.to_be_bytes());
        assert_eq!(&v[12..16], &60_000i32.to_be_bytes());
        assert_eq!(v[16], 1);
        // two topics: "a" [0, 2], "b" [1]
        assert_eq!(&v[17..21], &2i32.to_be_bytes());
        assert_eq!(&v[21..24], &[0, 1, b'a']);
        assert_eq!(&v[24..28], &2i32.to_be_bytes());
        assert_eq!(v.len(), 17 + 4 + (3 + 4 + 8) + (3 + 4 + 4) + 16);
        assert_eq!(decode_value("app-1", &v).unwrap(), m);
        assert_eq!(encode_key("app-1"), vec![0, 0, 0, 5, b'a', b'p', b'p', b'-', b'1']);
        assert_eq!(decode_key(&encode_key("app-1")).unwrap(), "app-1");
        // An empty transaction writes a null partition list.
        let empty = encode_value(&meta(TxnState::Empty, &[]));
        assert_eq!(&empty[17..21], &(-1i32).to_be_bytes());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let v = encode_value(&meta(TxnState::PrepareCommit, &[("t", 3)]));
        for cut in 0..v.len() {
            assert!(decode_value("x", &v[..cut]).is_err());
        }
    }

    proptest! {
        #[test]
        fn values_round_trip(
            pid in 0i64..i64::MAX, epoch in 0i16..i16::MAX, timeout in 1i32..i32::MAX,
            state in 0i8..8, parts in proptest::collection::btree_set(("[a-z]{1,8}", 0i32..64), 0..10),
            start in -1i64..i64::MAX, update in 0i64..i64::MAX,
        ) {
            let state = TxnState::from_id(state).unwrap();
            let m = TxnMetadata {
                transactional_id: "id".into(), producer_id: pid, producer_epoch: epoch, last_producer_epoch: -1,
                timeout_ms: timeout, state,
                partitions: if state == TxnState::Empty { Default::default() } else { parts },
                start_ms: start, last_update_ms: update,
            };
            prop_assert_eq!(decode_value("id", &encode_value(&m)).unwrap(), m);
        }
    }
}
