//! Nexmark events as the SQL sources read them: the `nexmark` crate's generator, each event
//! encoded as one JSON object (the generator's field names) with its topic, key and time.
//!
//! ```text
//!  EventGenerator ──► Person / Auction / Bid ──► (topic, key, {"…": …} JSON, date_time)
//!                                               nexmark-person  key: id (8-byte BIGINT)
//!                                               nexmark-auction key: id (8-byte BIGINT)
//!                                               nexmark-bid     key: none
//! ```
//!
//! A batch keeps all of its payloads in one buffer; records are zero-copy slices of it.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use nexmark::EventGenerator;
use nexmark::config::{NexmarkConfig, RateShape};
use nexmark::event::Event;

/// The event topics, in the order of [`Batch::topics`].
pub const TOPICS: [&str; 3] = ["nexmark-person", "nexmark-auction", "nexmark-bid"];

/// Event time of the first event: 2026-01-01T00:00:00Z, fixed so runs are reproducible.
const BASE_TIME_MS: u64 = 1_767_225_600_000;

/// One encoded event.
#[derive(Debug, Clone)]
pub struct EncodedEvent {
    /// Record key (`None` for bids).
    pub key: Option<Bytes>,
    /// The JSON object.
    pub value: Bytes,
    /// The event's `date_time`, also the record timestamp.
    pub timestamp: i64,
}

/// Generated events split by topic.
#[derive(Debug, Default)]
pub struct Batch {
    /// Per topic of [`TOPICS`], events in generation (event-time) order.
    pub topics: [Vec<EncodedEvent>; 3],
}

/// The generator with Flink's nexmark settings: a constant rate (square shape, first rate =
/// next rate) of `rate` events per second of event time, one generator, default proportions
/// (1 person : 3 auctions : 46 bids).
pub struct Events {
    generator: EventGenerator,
}

impl Events {
    /// A generator of `rate` events per second of event time.
    pub fn new(rate: usize) -> Events {
        let config = NexmarkConfig {
            first_rate: rate,
            next_rate: rate,
            rate_shape: RateShape::Square,
            base_time: BASE_TIME_MS,
            ..NexmarkConfig::default()
        };
        Events { generator: EventGenerator::new(config) }
    }

    /// The next `n` events.
    pub fn next_batch(&mut self, n: usize) -> Batch {
        let mut batch = Batch::default();
        let mut spans: Vec<(usize, Option<i64>, usize, usize, i64)> = Vec::with_capacity(n);
        let mut out = BytesMut::with_capacity(n * 256).writer();
        for event in self.generator.by_ref().take(n) {
            let start = out.get_ref().len();
            let (topic, key, ts) = encode(&event, &mut out);
            spans.push((topic, key, start, out.get_ref().len(), ts));
        }
        let all = out.into_inner().freeze();
        for (topic, key, start, end, timestamp) in spans {
            batch.topics[topic].push(EncodedEvent {
                key: key.map(|k| Bytes::copy_from_slice(&k.to_be_bytes())),
                value: all.slice(start..end),
                timestamp,
            });
        }
        batch
    }
}

/// A JSON string literal (the generator's strings are plain ASCII, but escape anyway).
fn string(out: &mut impl Write, s: &str) {
    let _ = out.write_all(b"\"");
    // Copy runs of characters that need no escaping in one write.
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            let _ = out.write_all(&bytes[run..i]);
            let _ = match b {
                b'"' => out.write_all(b"\\\""),
                b'\\' => out.write_all(b"\\\\"),
                _ => write!(out, "\\u{:04x}", b),
            };
            run = i + 1;
        }
    }
    let _ = out.write_all(&bytes[run..]);
    let _ = out.write_all(b"\"");
}

/// Writes one event's JSON object; returns its topic index, key and timestamp.
fn encode(event: &Event, out: &mut impl Write) -> (usize, Option<i64>, i64) {
    match event {
        Event::Person(p) => {
            let _ = write!(out, "{{\"id\":{},\"name\":", p.id);
            string(out, &p.name);
            let _ = out.write_all(b",\"email_address\":");
            string(out, &p.email_address);
            let _ = out.write_all(b",\"credit_card\":");
            string(out, &p.credit_card);
            let _ = out.write_all(b",\"city\":");
            string(out, &p.city);
            let _ = out.write_all(b",\"state\":");
            string(out, &p.state);
            let _ = write!(out, ",\"date_time\":{},\"extra\":", p.date_time);
            string(out, &p.extra);
            let _ = out.write_all(b"}");
            (0, Some(p.id as i64), p.date_time as i64)
        }
        Event::Auction(a) => {
            let _ = write!(out, "{{\"id\":{},\"item_name\":", a.id);
            string(out, &a.item_name);
            let _ = out.write_all(b",\"description\":");
            string(out, &a.description);
            let _ = write!(
                out,
                ",\"initial_bid\":{},\"reserve\":{},\"date_time\":{},\"expires\":{},\"seller\":{},\"category\":{},\"extra\":",
                a.initial_bid, a.reserve, a.date_time, a.expires, a.seller, a.category
            );
            string(out, &a.extra);
            let _ = out.write_all(b"}");
            (1, Some(a.id as i64), a.date_time as i64)
        }
        Event::Bid(b) => {
            let _ = write!(
                out,
                "{{\"auction\":{},\"bidder\":{},\"price\":{},\"channel\":",
                b.auction, b.bidder, b.price
            );
            string(out, &b.channel);
            let _ = out.write_all(b",\"url\":");
            string(out, &b.url);
            let _ = write!(out, ",\"date_time\":{},\"extra\":", b.date_time);
            string(out, &b.extra);
            let _ = out.write_all(b"}");
            (2, None, b.date_time as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_objects_in_their_topics_with_event_time() {
        let mut events = Events::new(10_000_000);
        let batch = events.next_batch(500);
        // 1 person : 3 auctions : 46 bids.
        assert_eq!(batch.topics.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 30, 460]);
        for (t, records) in batch.topics.iter().enumerate() {
            for r in records {
                let v: serde_json::Value = serde_json::from_slice(&r.value).expect("valid JSON");
                assert_eq!(v["date_time"].as_i64(), Some(r.timestamp));
                assert!(r.timestamp >= BASE_TIME_MS as i64);
                match t {
                    2 => assert!(r.key.is_none() && v["auction"].is_u64() && v["url"].is_string()),
                    _ => {
                        let key = r.key.as_ref().expect("keyed by id");
                        let id = i64::from_be_bytes(key.as_ref().try_into().expect("8 bytes"));
                        assert_eq!(v["id"].as_i64(), Some(id));
                    }
                }
            }
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        string(&mut out, "a\"b\\c\n");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\u000a""#);
    }
}
