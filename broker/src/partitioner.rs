//! Kafka's default partitioner, bit for bit.
//!
//! The Java client (and librdkafka with `partitioner=murmur2_random`) sends a keyed record to
//! `toPositive(murmur2(key)) % partitions`, so a record keyed here lands on the same partition
//! as with any Kafka client. Records without a key are spread evenly (round robin).

use std::sync::atomic::{AtomicU32, Ordering};

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Chooses partitions: murmur2 for keyed records, round robin for null keys.
#[derive(Debug, Default)]
pub struct Partitioner {
    next: AtomicU32,
}

impl Partitioner {
    /// Picks a partition for a record with this key.
    pub fn partition(&self, key: Option<&[u8]>, partitions: i32) -> i32 {
        match key {
            Some(k) => partition_for_key(k, partitions),
            None => (self.next.fetch_add(1, Ordering::Relaxed) % partitions.max(1) as u32) as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors from Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn matches_kafka_test_vectors() {
        let cases: &[(&str, i32)] = &[
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ];
        for &(input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "murmur2({input})");
        }
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn null_keys_spread_evenly() {
        let p = Partitioner::default();
        let mut counts = [0; 4];
        for _ in 0..400 {
            counts[p.partition(None, 4) as usize] += 1;
        }
        assert_eq!(counts, [100; 4]);
    }
}
