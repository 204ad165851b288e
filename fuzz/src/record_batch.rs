//! The record-batch decoder, compression included: a produced batch through Kafka's produce
//! validation (`validate_client_batch`: header, CRC, bounded decompression of all four codecs,
//! every record) on a plain and a compacted topic, and the stored-batch reader the cleaner and
//! consumers use (`segment::batches`, `BatchHeader::records`). Errors are fine; panics,
//! hangs and allocations beyond the limit are findings.

use brook_broker::log::record_batch::BatchHeader;
use brook_broker::log::{LogConfig, TopicConfig, segment, validate};
use bytes::{Bytes, BytesMut};

const LIMIT: usize = 1 << 20;

/// One input: a record batch as produced, and as stored.
pub fn run(data: &[u8]) {
    let plain = LogConfig::default();
    let compact = TopicConfig::from_pairs([("cleanup.policy", "compact")]).unwrap().resolve().unwrap();
    for config in [&plain, &compact] {
        let mut batch = BytesMut::from(data);
        if let Ok(header) = validate::validate_client_batch(&mut batch, config, LIMIT, 1_700_000_000_000) {
            // What validation accepts must decode.
            let records = header.records(&batch.clone().freeze(), LIMIT).expect("a validated batch decodes");
            assert_eq!(records.len(), header.records_count as usize);
        }
    }
    let stored = Bytes::copy_from_slice(data);
    for item in segment::batches(&stored) {
        let Ok((header, bytes)) = item else { break };
        let _ = header.records(&bytes, LIMIT);
    }
    if let Ok(header) = BatchHeader::parse_prefix(data) {
        let _ = header.verify_crc(data);
    }
}
