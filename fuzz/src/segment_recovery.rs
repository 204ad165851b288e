//! The segment recovery reader: arbitrary bytes as a segment file, opened as crash recovery
//! opens the active segment (every batch's length and CRC verified, contiguous offsets, the
//! file truncated at the first damage). Must never panic; what survives must re-open cleanly
//! with the same end offset.

use brook_broker::log::segment::Segment;

/// One input: the bytes of a segment file.
pub fn run(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    std::fs::write(&path, data).unwrap();
    let Ok((segment, _damage)) = Segment::open(&path, 0, true, true, 4096, 0) else { return };
    let (end, size) = (segment.next_offset, segment.size);
    drop(segment);
    let (again, damage) = Segment::open(&path, 0, true, true, 4096, 0).expect("a recovered segment re-opens");
    assert!(damage.is_none(), "recovery left damage behind: {damage:?}");
    assert_eq!((again.next_offset, again.size), (end, size));
}
