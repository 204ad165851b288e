//! Order-preserving key encodings used by the store layouts.

/// Encodes an i64 so that byte order equals numeric order.
pub fn ts(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`ts`].
pub fn read_ts(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

/// Appends a length-prefixed byte string (so a key is never a prefix of another key's encoding).
pub fn put_prefixed(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
}

/// Reads a length-prefixed byte string; returns it and the rest.
pub fn read_prefixed(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let key = b.get(4..4 + len)?;
    Some((key, &b[4 + len..]))
}

/// The smallest byte string greater than every string starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_order_is_byte_order() {
        let vals = [i64::MIN, -5, -1, 0, 1, 1000, i64::MAX];
        for w in vals.windows(2) {
            assert!(ts(w[0]) < ts(w[1]));
            assert_eq!(read_ts(&ts(w[0])), w[0]);
        }
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        let mut v = Vec::new();
        put_prefixed(&mut v, b"key");
        v.push(9);
        assert_eq!(read_prefixed(&v), Some((&b"key"[..], &[9u8][..])));
    }
}
