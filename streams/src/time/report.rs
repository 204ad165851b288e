//! Watermark reports: how a task that writes an internal topic tells the tasks reading it how
//! far its event time has come. The wire rule lives here and nowhere else.
//!
//! A report is an ordinary record (so it travels through Brook's broker and any Kafka
//! cluster alike) that carries the header [`REPORT_HEADER`]; the task runner of the reading
//! task takes it out of the input before the processors see it. Its key names the writer
//! (`"1_3"`, sub-topology 1, partition 3, as Kafka Streams writes task ids), its value is
//! fixed-width big-endian:
//!
//! ```text
//!  byte 0      version (1)
//!  bytes 1..5  writer sub-topology  (u32)
//!  bytes 5..9  writer partition     (i32)
//!  bytes 9..17 watermark, ms        (i64; i64::MIN = nothing seen yet)
//!  byte 17     flags: bit 0 = idle  (every input of the writer is idle)
//! ```
//!
//! Because one writer appends to a partition in order, a report at offset `o` follows every
//! record that writer wrote to that partition before it: when the reader meets it, it has
//! already read all of the writer's records the watermark speaks about.

use bytes::{BufMut, Bytes, BytesMut};

use crate::record::{Header, InputRecord, OutputRecord};
use crate::task::TaskId;

/// The header that marks a record as a watermark report.
pub const REPORT_HEADER: &[u8] = b"__brook_wm";

const VERSION: u8 = 1;
const LEN: usize = 18;
const IDLE: u8 = 1;

/// One writer's progress, as written to each partition of an internal topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkReport {
    /// The writing task.
    pub writer: TaskId,
    /// The writer's event time: it will not write records it considers on time below it.
    pub watermark: i64,
    /// Every input of the writer is idle (caught up, nothing new for the idle timeout):
    /// readers leave it out of their minimum until it reports again.
    pub idle: bool,
}

impl WatermarkReport {
    /// The record that carries this report to `partition` of `topic`.
    pub fn to_record(&self, topic: &str, partition: i32, wall_clock: i64) -> OutputRecord {
        let mut v = BytesMut::with_capacity(LEN);
        v.put_u8(VERSION);
        v.put_u32(self.writer.subtopology as u32);
        v.put_i32(self.writer.partition);
        v.put_i64(self.watermark);
        v.put_u8(if self.idle { IDLE } else { 0 });
        OutputRecord {
            topic: topic.to_string(),
            partition: Some(partition),
            key: Some(Bytes::from(self.writer.to_string())),
            value: Some(v.freeze()),
            timestamp: wall_clock,
            headers: vec![Header { key: Bytes::from_static(REPORT_HEADER), value: None }],
        }
    }

    /// Whether `record` is a report (whether or not it decodes).
    pub fn is_report(record: &InputRecord) -> bool {
        record.headers.first().is_some_and(|h| h.key.as_ref() == REPORT_HEADER)
    }

    /// Decodes a report; `None` for a record that is not one or whose value is malformed (a
    /// newer version, a truncated value).
    pub fn decode(record: &InputRecord) -> Option<WatermarkReport> {
        if !Self::is_report(record) {
            return None;
        }
        let v = record.value.as_deref()?;
        if v.len() != LEN || v[0] != VERSION {
            return None;
        }
        let subtopology = u32::from_be_bytes(v[1..5].try_into().ok()?) as usize;
        let partition = i32::from_be_bytes(v[5..9].try_into().ok()?);
        let watermark = i64::from_be_bytes(v[9..17].try_into().ok()?);
        Some(WatermarkReport {
            writer: TaskId { subtopology, partition },
            watermark,
            idle: v[17] & IDLE != 0,
        })
    }
}

/// Prefix of the commit metadata that carries a reader's latest report of each writer.
const CHECKPOINT_PREFIX: &str = "brook-wm1:";

/// Encodes the latest report of each writer of an input partition as the metadata committed
/// with the reader's position (`brook-wm1:0_0=1234,0_1=-9223372036854775808i`, `i` marking an
/// idle writer), so a task that takes the partition over knows where every writer was.
pub fn encode_checkpoint(reports: &[WatermarkReport]) -> String {
    let mut s = String::from(CHECKPOINT_PREFIX);
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{}={}{}", r.writer, r.watermark, if r.idle { "i" } else { "" }));
    }
    s
}

/// Decodes [`encode_checkpoint`]'s metadata; anything else (no metadata, another client's, a
/// damaged entry) yields the entries that decode, or none.
pub fn decode_checkpoint(metadata: &str) -> Vec<WatermarkReport> {
    let Some(list) = metadata.strip_prefix(CHECKPOINT_PREFIX) else { return Vec::new() };
    list.split(',')
        .filter_map(|entry| {
            let (writer, rest) = entry.split_once('=')?;
            let (sub, part) = writer.split_once('_')?;
            let (wm, idle) = match rest.strip_suffix('i') {
                Some(wm) => (wm, true),
                None => (rest, false),
            };
            Some(WatermarkReport {
                writer: TaskId { subtopology: sub.parse().ok()?, partition: part.parse().ok()? },
                watermark: wm.parse().ok()?,
                idle,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;

    fn input(o: OutputRecord) -> InputRecord {
        InputRecord {
            topic: Arc::from(o.topic.as_str()),
            partition: o.partition.unwrap_or(0),
            offset: 7,
            timestamp: o.timestamp,
            key: o.key,
            value: o.value,
            headers: o.headers,
        }
    }

    #[test]
    fn byte_layout_is_pinned() {
        let r = WatermarkReport {
            writer: TaskId { subtopology: 1, partition: 3 },
            watermark: 0x0102_0304_0506_0708,
            idle: true,
        };
        let rec = r.to_record("app-x-repartition", 2, 99);
        assert_eq!(rec.key.as_deref(), Some(&b"1_3"[..]));
        assert_eq!(rec.partition, Some(2));
        assert_eq!(rec.value.as_deref(), Some(&[1, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 1][..]));
        assert_eq!(rec.headers[0].key.as_ref(), b"__brook_wm");
    }

    #[test]
    fn data_records_and_malformed_reports_are_not_reports() {
        let data = InputRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: 0,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(b"x")),
            headers: vec![Header { key: Bytes::from_static(b"trace"), value: None }],
        };
        assert!(!WatermarkReport::is_report(&data));
        assert_eq!(WatermarkReport::decode(&data), None);
        let mut truncated = data.clone();
        truncated.headers = vec![Header { key: Bytes::from_static(REPORT_HEADER), value: None }];
        assert!(WatermarkReport::is_report(&truncated));
        assert_eq!(WatermarkReport::decode(&truncated), None);
    }

    #[test]
    fn checkpoints_pin_their_text_and_ignore_foreign_metadata() {
        let reports = vec![
            WatermarkReport { writer: TaskId { subtopology: 0, partition: 0 }, watermark: 1234, idle: false },
            WatermarkReport {
                writer: TaskId { subtopology: 0, partition: 1 },
                watermark: i64::MIN,
                idle: true,
            },
        ];
        let text = encode_checkpoint(&reports);
        assert_eq!(text, "brook-wm1:0_0=1234,0_1=-9223372036854775808i");
        assert_eq!(decode_checkpoint(&text), reports);
        assert_eq!(decode_checkpoint(""), vec![]);
        assert_eq!(decode_checkpoint("someone else's"), vec![]);
        assert_eq!(
            decode_checkpoint("brook-wm1:0_0=x,0_1=5"),
            vec![WatermarkReport {
                writer: TaskId { subtopology: 0, partition: 1 },
                watermark: 5,
                idle: false
            }]
        );
    }

    proptest! {
        #[test]
        fn checkpoints_round_trip(entries in prop::collection::vec((0usize..1000, 0i32..1000, any::<i64>(), any::<bool>()), 0..20)) {
            let reports: Vec<WatermarkReport> = entries
                .into_iter()
                .map(|(sub, p, watermark, idle)| WatermarkReport { writer: TaskId { subtopology: sub, partition: p }, watermark, idle })
                .collect();
            prop_assert_eq!(decode_checkpoint(&encode_checkpoint(&reports)), reports);
        }

        #[test]
        fn round_trips(sub in 0usize..u32::MAX as usize, p in any::<i32>(), wm in any::<i64>(), idle in any::<bool>()) {
            let r = WatermarkReport { writer: TaskId { subtopology: sub, partition: p }, watermark: wm, idle };
            prop_assert_eq!(WatermarkReport::decode(&input(r.to_record("t", 0, 0))), Some(r));
        }
    }
}
