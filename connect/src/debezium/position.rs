//! [`SourcePosition`]: where in the database's change log an event was captured.
//!
//! Debezium delivers events at least once: after a connector restart it re-emits events from
//! its last committed offset. The position in `source` tells a replayed event from a new one.
//! Positions are compared only between events of the same database kind; an event without a
//! recognizable position is never treated as a duplicate.
//!
//! | database | `source` fields used | order |
//! |---|---|---|
//! | PostgreSQL | `lsn` | numeric |
//! | MySQL, MariaDB | `file`, `pos`, `row` | binlog file name, then position, then row |
//! | SQL Server, Db2 | `commit_lsn`, `change_lsn`, `event_serial_no` | hex LSN strings (fixed width) |
//! | Oracle | `scn` | numeric (sent as a string) |
//! | MongoDB | `ts_ms`, `ord` | numeric |
//!
//! The flattened form (`ExtractNewRecordState` with `add.fields`) carries the same fields as
//! `__lsn`, `__file`/`__pos`/`__row`, `__change_lsn`/`__commit_lsn`, `__scn`, `__ord`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A change event's position in its database's change log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourcePosition {
    /// PostgreSQL: the WAL position of the change.
    Postgres {
        /// Log sequence number.
        lsn: u64,
    },
    /// MySQL and MariaDB: binlog coordinates.
    MySql {
        /// Binlog file name (`mysql-bin.000003`; zero-padded, so names sort in order).
        file: String,
        /// Position in the file.
        pos: u64,
        /// Row within a multi-row event.
        row: u64,
    },
    /// SQL Server and Db2: LSNs as fixed-width hex strings.
    SqlServer {
        /// Commit LSN of the transaction.
        commit_lsn: String,
        /// LSN of the change.
        change_lsn: String,
        /// Order of events with the same LSNs.
        serial: u64,
    },
    /// Oracle: system change number.
    Oracle {
        /// SCN.
        scn: u128,
    },
    /// MongoDB: oplog time and order within it.
    MongoDb {
        /// Oplog time.
        ts_ms: u64,
        /// Order within that time.
        ord: u64,
    },
}

impl SourcePosition {
    /// Compares two positions of the same database kind; `None` across kinds.
    pub fn compare(&self, other: &SourcePosition) -> Option<Ordering> {
        use SourcePosition::*;
        match (self, other) {
            (Postgres { lsn: a }, Postgres { lsn: b }) => Some(a.cmp(b)),
            (MySql { file: f1, pos: p1, row: r1 }, MySql { file: f2, pos: p2, row: r2 }) => {
                Some((f1, p1, r1).cmp(&(f2, p2, r2)))
            }
            (
                SqlServer { commit_lsn: c1, change_lsn: l1, serial: s1 },
                SqlServer { commit_lsn: c2, change_lsn: l2, serial: s2 },
            ) => Some((c1, l1, s1).cmp(&(c2, l2, s2))),
            (Oracle { scn: a }, Oracle { scn: b }) => Some(a.cmp(b)),
            (MongoDb { ts_ms: t1, ord: o1 }, MongoDb { ts_ms: t2, ord: o2 }) => Some((t1, o1).cmp(&(t2, o2))),
            _ => None,
        }
    }

    /// Whether an event at `self` was already applied when `seen` was: a replay.
    pub fn is_at_or_before(&self, seen: &SourcePosition) -> bool {
        matches!(self.compare(seen), Some(Ordering::Less | Ordering::Equal))
    }

    /// The position in a Debezium `source` block, if it has one.
    pub fn from_source(source: &Map<String, Value>) -> Option<SourcePosition> {
        Self::from_fields(|name| source.get(name))
    }

    /// The position in a flattened row's `__`-prefixed metadata fields, if it has one.
    pub fn from_flattened(row: &Map<String, Value>) -> Option<SourcePosition> {
        Self::from_fields(|name| {
            row.get(&format!("__{name}")).or_else(|| row.get(&format!("__source_{name}")))
        })
    }

    fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a Value>) -> Option<SourcePosition> {
        let num = |name: &str| get(name).and_then(as_u128);
        let text = |name: &str| get(name).and_then(Value::as_str).map(str::to_string);
        if let Some(lsn) = num("lsn") {
            return Some(SourcePosition::Postgres { lsn: u64::try_from(lsn).ok()? });
        }
        if let (Some(file), Some(pos)) = (text("file"), num("pos")) {
            let row = num("row").unwrap_or(0);
            return Some(SourcePosition::MySql {
                file,
                pos: u64::try_from(pos).ok()?,
                row: u64::try_from(row).ok()?,
            });
        }
        if let Some(change_lsn) = text("change_lsn") {
            return Some(SourcePosition::SqlServer {
                commit_lsn: text("commit_lsn").unwrap_or_default(),
                change_lsn,
                serial: num("event_serial_no").and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            });
        }
        if let Some(scn) = num("scn") {
            return Some(SourcePosition::Oracle { scn });
        }
        if let (Some(ord), Some(ts)) = (num("ord"), num("ts_ms")) {
            return Some(SourcePosition::MongoDb {
                ts_ms: u64::try_from(ts).ok()?,
                ord: u64::try_from(ord).ok()?,
            });
        }
        None
    }

    /// Encodes the position for the `brook.cdc.position` header: `pg|33832760`,
    /// `mysql|mysql-bin.000003|154|0`, `sqlserver|<commit>|<change>|<serial>`, `oracle|<scn>`,
    /// `mongodb|<ts_ms>|<ord>`.
    pub fn encode(&self) -> String {
        match self {
            SourcePosition::Postgres { lsn } => format!("pg|{lsn}"),
            SourcePosition::MySql { file, pos, row } => format!("mysql|{file}|{pos}|{row}"),
            SourcePosition::SqlServer { commit_lsn, change_lsn, serial } => {
                format!("sqlserver|{commit_lsn}|{change_lsn}|{serial}")
            }
            SourcePosition::Oracle { scn } => format!("oracle|{scn}"),
            SourcePosition::MongoDb { ts_ms, ord } => format!("mongodb|{ts_ms}|{ord}"),
        }
    }

    /// Decodes [`SourcePosition::encode`]'s form.
    pub fn decode(s: &str) -> Option<SourcePosition> {
        let (kind, rest) = s.split_once('|')?;
        match kind {
            "pg" => Some(SourcePosition::Postgres { lsn: rest.parse().ok()? }),
            "mysql" => {
                // The file name is the part that could contain unusual characters: split from the right.
                let mut parts = rest.rsplitn(3, '|');
                let row = parts.next()?.parse().ok()?;
                let pos = parts.next()?.parse().ok()?;
                let file = parts.next()?.to_string();
                Some(SourcePosition::MySql { file, pos, row })
            }
            "sqlserver" => {
                let mut parts = rest.splitn(3, '|');
                let commit_lsn = parts.next()?.to_string();
                let change_lsn = parts.next()?.to_string();
                let serial = parts.next()?.parse().ok()?;
                Some(SourcePosition::SqlServer { commit_lsn, change_lsn, serial })
            }
            "oracle" => Some(SourcePosition::Oracle { scn: rest.parse().ok()? }),
            "mongodb" => {
                let (ts, ord) = rest.split_once('|')?;
                Some(SourcePosition::MongoDb { ts_ms: ts.parse().ok()?, ord: ord.parse().ok()? })
            }
            _ => None,
        }
    }
}

/// A non-negative integer from a JSON number or a numeric string (Oracle sends SCNs as text).
fn as_u128(v: &Value) -> Option<u128> {
    match v {
        Value::Number(n) => n.as_u64().map(u128::from),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn positions_of_each_database() {
        let pg = SourcePosition::from_source(&source(json!({"connector":"postgresql","lsn":33832760})));
        assert_eq!(pg, Some(SourcePosition::Postgres { lsn: 33832760 }));
        let my = SourcePosition::from_source(&source(
            json!({"connector":"mysql","file":"mysql-bin.000003","pos":154,"row":1}),
        ));
        assert_eq!(my, Some(SourcePosition::MySql { file: "mysql-bin.000003".into(), pos: 154, row: 1 }));
        let ms = SourcePosition::from_source(&source(
            json!({"change_lsn":"00000027:00000758:0003","commit_lsn":"00000027:00000758:0005","event_serial_no":1}),
        ));
        assert!(matches!(ms, Some(SourcePosition::SqlServer { serial: 1, .. })));
        let ora = SourcePosition::from_source(&source(json!({"scn":"18446744073709551999"})));
        assert_eq!(ora, Some(SourcePosition::Oracle { scn: 18446744073709551999 }));
        let mongo = SourcePosition::from_source(&source(json!({"ts_ms":1700000000000u64,"ord":3})));
        assert_eq!(mongo, Some(SourcePosition::MongoDb { ts_ms: 1700000000000, ord: 3 }));
        assert_eq!(SourcePosition::from_source(&source(json!({"ts_ms": 5}))), None);
        let flat = SourcePosition::from_flattened(&source(json!({"id":1,"__lsn":77})));
        assert_eq!(flat, Some(SourcePosition::Postgres { lsn: 77 }));
    }

    #[test]
    fn encoding_round_trips_and_order_is_per_kind() {
        let all = [
            SourcePosition::Postgres { lsn: 5 },
            SourcePosition::MySql { file: "bin|odd.000001".into(), pos: 9, row: 2 },
            SourcePosition::SqlServer { commit_lsn: "a:b".into(), change_lsn: "c:d".into(), serial: 4 },
            SourcePosition::Oracle { scn: 12 },
            SourcePosition::MongoDb { ts_ms: 1, ord: 2 },
        ];
        for p in &all {
            assert_eq!(SourcePosition::decode(&p.encode()).as_ref(), Some(p));
        }
        assert_eq!(all[0].compare(&all[3]), None);
        assert!(SourcePosition::Postgres { lsn: 4 }.is_at_or_before(&all[0]));
        assert!(all[0].is_at_or_before(&all[0]));
        assert!(!SourcePosition::Postgres { lsn: 6 }.is_at_or_before(&all[0]));
        assert!(!all[0].is_at_or_before(&all[3]));
        let a = SourcePosition::MySql { file: "mysql-bin.000002".into(), pos: 900, row: 0 };
        let b = SourcePosition::MySql { file: "mysql-bin.000003".into(), pos: 4, row: 0 };
        assert!(a.is_at_or_before(&b));
    }
}
