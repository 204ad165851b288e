//! A growable Bloom filter over byte keys: "this key is certainly absent" answered from memory.
//!
//! Join buffers keep one per time segment, so a record whose key the other side never saw
//! skips the store lookup entirely (a RocksDB iterator costs microseconds; a probe here costs
//! one cache line). The filter is blocked — all probes of a key fall in one 64-byte block —
//! and scalable: when the keys inserted exceed its capacity, a part twice as large is added,
//! and a lookup asks every part. False positives are about 1 %; there are no false negatives.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// Bits of filter per key of capacity.
const BITS_PER_KEY: usize = 10;
/// Bits set per key (all within one block).
const PROBES: u32 = 6;
/// Keys the first part holds before a larger one is added.
const FIRST_CAPACITY: usize = 16 * 1024;

/// One 512-bit block.
type Block = [u64; 8];

struct Part {
    blocks: Vec<Block>,
    capacity: usize,
    len: usize,
}

impl Part {
    fn new(capacity: usize) -> Part {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512).max(1);
        Part { blocks: vec![[0; 8]; blocks], capacity, len: 0 }
    }

    /// The block of a hash.
    fn block(&self, h: u64) -> usize {
        (((h >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    fn insert(&mut self, h: u64) {
        let block = self.block(h);
        let b = &mut self.blocks[block];
        for bit in bits(h) {
            b[bit / 64] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, h: u64) -> bool {
        let b = &self.blocks[self.block(h)];
        bits(h).all(|bit| b[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The bit positions of a hash within its block.
fn bits(h: u64) -> impl Iterator<Item = usize> {
    let bits = mix(h);
    (0..PROBES).map(move |i| ((bits >> (9 * i)) & 511) as usize)
}

/// A Bloom filter that grows with the keys put in it.
pub struct KeyFilter {
    parts: Vec<Part>,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::new()
    }
}

impl KeyFilter {
    /// An empty filter.
    pub fn new() -> KeyFilter {
        KeyFilter::with_capacity(FIRST_CAPACITY)
    }

    /// An empty filter sized for `keys` keys before it has to grow.
    pub fn with_capacity(keys: usize) -> KeyFilter {
        KeyFilter { parts: vec![Part::new(keys.max(1024))] }
    }

    /// Keys inserted.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len).sum()
    }

    /// Whether no key was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a key.
    pub fn insert(&mut self, key: &[u8]) {
        let h = hash(key);
        let grow = self.parts.last().is_none_or(|p| p.len >= p.capacity);
        if grow {
            let capacity = self.parts.last().map_or(FIRST_CAPACITY, |p| p.capacity * 2);
            self.parts.push(Part::new(capacity));
        }
        if let Some(p) = self.parts.last_mut() {
            p.insert(h);
        }
    }

    /// `false` if the key was certainly never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let h = hash(key);
        self.parts.iter().any(|p| p.may_contain(h))
    }
}

fn hash(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    mix(h.finish() ^ key.len() as u64)
}

/// SplitMix64's finalizer: spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives_as_it_grows() {
        let mut f = KeyFilter::new();
        let n = 200_000u64;
        for i in 0..n {
            f.insert(&i.to_be_bytes());
        }
        assert!(f.parts.len() > 1, "the filter grew past its first part");
        assert!((0..n).all(|i| f.may_contain(&i.to_be_bytes())));
        let false_positives = (n..2 * n).filter(|i| f.may_contain(&i.to_be_bytes())).count();
        // Every part adds its own ~1 % at most; five parts stay well under 5 %.
        assert!(false_positives < (n / 20) as usize, "{false_positives} false positives of {n}");
        assert_eq!(f.len(), n as usize);
        assert!(!KeyFilter::new().may_contain(b"anything"));
    }
}
