//! Deterministic synthetic change streams, for tests and benchmarks.
//!
//! [`CdcGenerator`] plays a `customers` table through a snapshot and then random inserts,
//! updates, deletes (each followed by a tombstone line), primary-key changes and replayed
//! duplicates, as Postgres Debezium events (envelope form, `source.lsn` positions). It keeps
//! the table it describes, so a test can compare what a connector built with the truth.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

const CITIES: [&str; 8] = ["Lisbon", "Oslo", "Lagos", "Lima", "Pune", "Osaka", "Quito", "Perth"];

/// Generates change-event lines for a `customers(id, name, email, city, balance, version)` table.
#[derive(Debug, Clone)]
pub struct CdcGenerator {
    keys: u64,
    rng: u64,
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
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            lsn: 1_000_000,
            ts: 1_700_000_000_000,
            table: BTreeMap::new(),
            snapshot_next: 0,
            recent: Vec::new(),
            pending_tombstone: false,
            lines: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
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
}
