//! Deterministic synthetic inputs, for tests and benchmarks.
//!
//! [`BidGenerator`] writes Nexmark-style auction bids as JSON lines, with event times slightly
//! out of order. [`CdcGenerator`] plays a `customers` table through a snapshot and then random inserts,
//! updates, deletes (each followed by a tombstone line), primary-key changes and replayed
//! duplicates, as Postgres Debezium events (envelope form, `source.lsn` positions). It keeps
//! the table it describes, so a test can compare what a connector built with the truth.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

const CITIES: [&str; 8] = ["Lisbon", "Oslo", "Lagos", "Lima", "Pune", "Osaka", "Quito", "Perth"];

/// A small deterministic pseudo-random generator (xorshift64*).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Generates change-event lines for a `customers(id, name, email, city, balance, version)` table.
#[derive(Debug, Clone)]
pub struct CdcGenerator {
    keys: u64,
    rng: Rng,
    lsn: u64,
    ts: i64,
    table: BTreeMap<u64, Value>,
    snapshot_next: u64,
    recent: Vec<String>,
    pending_tombstone: bool,
    lines: u64,
}

impl CdcGenerator {
    /// A generator over ids `0..keys` (keys changed by a primary-key change move above that).
    pub fn new(keys: u64, seed: u64) -> Self {
        CdcGenerator {
            keys: keys.max(1),
            rng: Rng::new(seed),
            lsn: 1_000_000,
            ts: 1_700_000_000_000,
            table: BTreeMap::new(),
            snapshot_next: 0,
            recent: Vec::new(),
            pending_tombstone: false,
            lines: 0,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn row(&mut self, id: u64, version: u64) -> Value {
        let city = CITIES[self.below(CITIES.len() as u64) as usize];
        let balance = self.below(1_000_000) as f64 / 100.0;
        json!({"id": id, "name": format!("customer-{id}"), "email": format!("c{id}@example.com"),
               "city": city, "balance": balance, "version": version})
    }

    fn event(&mut self, op: &str, before: Option<&Value>, after: Option<&Value>, snapshot: bool) -> String {
        if !snapshot {
            self.lsn += 1 + self.below(64);
            self.ts += 1 + self.below(5) as i64;
        }
        let mut line = String::with_capacity(320);
        let _ = write!(
            line,
            r#"{{"before":{},"after":{},"source":{{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":{},"snapshot":"{}","db":"inventory","schema":"public","table":"customers","lsn":{}}},"op":"{op}","ts_ms":{}}}"#,
            before.map_or("null".to_string(), Value::to_string),
            after.map_or("null".to_string(), Value::to_string),
            self.ts,
            snapshot,
            self.lsn,
            self.ts + 40,
        );
        line
    }

    /// The next input line (without its newline).
    pub fn next_line(&mut self) -> String {
        self.lines += 1;
        if self.pending_tombstone {
            self.pending_tombstone = false;
            return if self.below(2) == 0 { "null".to_string() } else { String::new() };
        }
        let snapshot_rows = self.keys / 2;
        let line = if self.snapshot_next < snapshot_rows {
            let id = self.snapshot_next;
            self.snapshot_next += 1;
            let row = self.row(id, 0);
            self.table.insert(id, row.clone());
            self.event("r", None, Some(&row), true)
        } else if !self.recent.is_empty() && self.below(100) == 0 {
            // A replayed event (Debezium's at-least-once delivery after a restart).
            let i = self.below(self.recent.len() as u64) as usize;
            return self.recent[i].clone();
        } else {
            let id = self.below(self.keys);
            match self.table.get(&id).cloned() {
                None => {
                    let row = self.row(id, 1);
                    self.table.insert(id, row.clone());
                    self.event("c", None, Some(&row), false)
                }
                Some(old) => match self.below(20) {
                    0..=13 => {
                        let version = old["version"].as_u64().unwrap_or(0) + 1;
                        let row = self.row(id, version);
                        self.table.insert(id, row.clone());
                        self.event("u", Some(&old), Some(&row), false)
                    }
                    14..=18 => {
                        self.table.remove(&id);
                        self.pending_tombstone = true;
                        self.event("d", Some(&old), None, false)
                    }
                    _ => {
                        // Primary-key change: the row moves to a fresh id above the key range.
                        let new_id = self.keys + self.lines;
                        let mut row = old.clone();
                        row["id"] = json!(new_id);
                        self.table.remove(&id);
                        self.table.insert(new_id, row.clone());
                        self.event("u", Some(&old), Some(&row), false)
                    }
                },
            }
        };
        if self.recent.len() < 64 {
            self.recent.push(line.clone());
        } else {
            let i = self.below(64) as usize;
            self.recent[i] = line.clone();
        }
        line
    }

    /// The table after every line generated so far: canonical key → row.
    pub fn table(&self) -> BTreeMap<String, Value> {
        self.table.iter().map(|(id, row)| (format!("{{\"id\":{id}}}"), row.clone())).collect()
    }
}

const CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// Generates Nexmark-style bids as JSON lines of about 180 bytes:
///
/// ```text
/// {"auction":1042,"bidder":48213,"price":73456,"channel":"Baidu","url":"https://www.nexmark.com/…","date_time":1767225600123,"extra":"…"}
/// ```
///
/// `date_time` (epoch milliseconds) advances at `events_per_second` and each bid's time is
/// jittered by up to `max_disorder_ms` either way, so the file is out of order by a few
/// milliseconds, as events arriving from many producers are. Bids go to `auctions` auctions
/// (ids from 1000), prices are uniform in 1..=100000.
#[derive(Debug, Clone)]
pub struct BidGenerator {
    rng: Rng,
    emitted: u64,
    start_ms: i64,
    events_per_second: u64,
    auctions: u64,
    max_disorder_ms: i64,
}

impl BidGenerator {
    /// 10,000 bids per second of event time from 2026-01-01T00:00:00Z, over 1,000 auctions,
    /// out of order by up to 5 ms.
    pub fn new(seed: u64) -> Self {
        BidGenerator {
            rng: Rng::new(seed),
            emitted: 0,
            start_ms: 1_767_225_600_000,
            events_per_second: 10_000,
            auctions: 1_000,
            max_disorder_ms: 5,
        }
    }

    /// Changes the event-time rate.
    pub fn with_events_per_second(mut self, rate: u64) -> Self {
        self.events_per_second = rate.max(1);
        self
    }

    /// Changes the number of auctions bid on.
    pub fn with_auctions(mut self, auctions: u64) -> Self {
        self.auctions = auctions.max(1);
        self
    }

    /// Changes how far event times may be out of order (each bid is moved by up to this many
    /// milliseconds, earlier or later).
    pub fn with_max_disorder_ms(mut self, ms: i64) -> Self {
        self.max_disorder_ms = ms.max(0);
        self
    }

    /// Appends the next bid and a newline to `out`.
    pub fn write_line(&mut self, out: &mut String) {
        let on_time = self.start_ms + (self.emitted * 1000 / self.events_per_second) as i64;
        self.emitted += 1;
        let spread = 2 * self.max_disorder_ms as u64 + 1;
        let date_time = on_time + self.rng.below(spread) as i64 - self.max_disorder_ms;
        let auction = 1000 + self.rng.below(self.auctions);
        let bidder = 1000 + self.rng.below(100_000);
        let price = 1 + self.rng.below(100_000);
        let channel = CHANNELS[self.rng.below(CHANNELS.len() as u64) as usize];
        let mut path = [0u8; 15];
        for b in &mut path {
            *b = b'a' + self.rng.below(26) as u8;
        }
        let path = std::str::from_utf8(&path).unwrap_or("abcdefghijklmno");
        let extra_len = self.rng.below(24) as usize;
        let _ = writeln!(
            out,
            r#"{{"auction":{auction},"bidder":{bidder},"price":{price},"channel":"{channel}","url":"https://www.nexmark.com/{}/{}/{}/item.htm?query=1","date_time":{date_time},"extra":"{}"}}"#,
            &path[..5],
            &path[5..10],
            &path[10..],
            &"xyzzyxyzzyxyzzyxyzzyxyzzy"[..extra_len],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let mut a = CdcGenerator::new(100, 7);
        let mut b = CdcGenerator::new(100, 7);
        let lines: Vec<String> = (0..2000).map(|_| a.next_line()).collect();
        assert_eq!(lines, (0..2000).map(|_| b.next_line()).collect::<Vec<_>>());
        for op in [r#""op":"r""#, r#""op":"c""#, r#""op":"u""#, r#""op":"d""#] {
            assert!(lines.iter().any(|l| l.contains(op)), "{op} generated");
        }
        assert!(lines.iter().any(|l| l == "null") && lines.iter().any(String::is_empty));
        assert!(!a.table().is_empty());
    }

    #[test]
    fn bids_are_json_lines_of_about_180_bytes_slightly_out_of_order() {
        let mut g = BidGenerator::new(3);
        let mut text = String::new();
        for _ in 0..10_000 {
            g.write_line(&mut text);
        }
        let mut times = Vec::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            times.push(v["date_time"].as_i64().unwrap());
            assert!((1000..2000).contains(&v["auction"].as_i64().unwrap()));
        }
        assert_eq!(times.len(), 10_000);
        let average = text.len() / times.len();
        assert!((160..=200).contains(&average), "average line length {average}");
        assert!(times.windows(2).any(|w| w[1] < w[0]), "some bids are out of order");
        let span = times.iter().max().unwrap() - times.iter().min().unwrap();
        assert!((999..=1010).contains(&span), "10,000 bids at 10,000/s span a second: {span}");
    }
}
