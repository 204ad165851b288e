//! The windowed-key wire format, as Kafka Streams writes it: the record key of a windowed
//! aggregate's output (and of its changelog) is the inner key's bytes followed by the window,
//! big-endian — `key ‖ start` for time windows (tumbling, hopping, sliding; the end is
//! `start + size`), `key ‖ end ‖ start` for session windows. The Rust DSL's
//! [`crate::dsl::WindowedSerde`] and Brook SQL's windowed sources and sinks both use this
//! module, so a topic written by one is read by the other (and by ksqlDB and Kafka Streams).

/// Appends the window of a windowed key to `key`: `start` for time windows, `end ‖ start`
/// for session windows.
pub fn append(key: &mut Vec<u8>, start: i64, end: i64, session: bool) {
    if session {
        key.extend_from_slice(&end.to_be_bytes());
    }
    key.extend_from_slice(&start.to_be_bytes());
}

/// Splits a windowed key into the inner key and the window `(start, end)`. `size` is the
/// window size of time windows (their end is `start + size`, saturating), `None` for session
/// windows (whose end is in the key). `None` when the key is too short to hold a window.
pub fn split(key: &[u8], size: Option<i64>) -> Option<(&[u8], i64, i64)> {
    let be = |b: &[u8]| b.try_into().ok().map(i64::from_be_bytes);
    match size {
        Some(size) => {
            let n = key.len().checked_sub(8)?;
            let start = be(&key[n..])?;
            Some((&key[..n], start, start.saturating_add(size)))
        }
        None => {
            let n = key.len().checked_sub(16)?;
            let end = be(&key[n..n + 8])?;
            let start = be(&key[n + 8..])?;
            Some((&key[..n], start, end))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn byte_layout_is_pinned() {
        let mut k = b"key".to_vec();
        append(&mut k, 0x0102, 0x0304, false);
        assert_eq!(k, b"key\0\0\0\0\0\0\x01\x02");
        let mut s = b"key".to_vec();
        append(&mut s, 0x0102, 0x0304, true);
        assert_eq!(s, b"key\0\0\0\0\0\0\x03\x04\0\0\0\0\0\0\x01\x02");
        assert_eq!(split(b"short", None), None);
        assert_eq!(split(b"", Some(10)), None);
        assert_eq!(split(&i64::MAX.to_be_bytes(), Some(10)), Some((&b""[..], i64::MAX, i64::MAX)));
    }

    proptest! {
        #[test]
        fn time_windows_round_trip(key in proptest::collection::vec(any::<u8>(), 0..40),
                                   start in any::<i64>(), size in 1i64..=i64::MAX) {
            let mut k = key.clone();
            append(&mut k, start, start.saturating_add(size), false);
            prop_assert_eq!(split(&k, Some(size)), Some((&key[..], start, start.saturating_add(size))));
        }

        #[test]
        fn session_windows_round_trip(key in proptest::collection::vec(any::<u8>(), 0..40),
                                      start in any::<i64>(), end in any::<i64>()) {
            let mut k = key.clone();
            append(&mut k, start, end, true);
            prop_assert_eq!(split(&k, None), Some((&key[..], start, end)));
        }
    }
}
