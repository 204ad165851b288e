//! Debezium change events: decoding dumps of them into keyed records for table topics.
//!
//! A Debezium connector captures every committed change of a database table as an event with
//! the row `before` and `after` the change, an operation `op`, and `source` metadata that
//! includes the change's position in the database log. Brook ingests files of such events —
//! one JSON document per line, in any of the forms [`event`] lists — and writes them to a
//! topic keyed by the row's primary key, so that the topic is a changelog of the table:
//!
//! | op | meaning | records written (key = row key) |
//! |---|---|---|
//! | `r` | snapshot read | envelope |
//! | `c` | insert | envelope |
//! | `u` | update | envelope; if the key changed: delete marker + tombstone for the old key, then a `c` envelope for the new key |
//! | `d` | delete | delete marker (the `d` envelope), then a tombstone (null value) |
//! | `t` | truncate | a tombstone for every row the connector knows to exist |
//! | `m` | logical-decoding message | nothing |
//!
//! An event whose key is unknown — no key document in the line and no configured `key`
//! columns, as in value-only dumps — is written without a key and unchanged in meaning (a `d`
//! without its tombstone, a key-changing `u` as one record); a `DEBEZIUM_JSON` table keys it
//! by its declared primary key when it reads it.
//!
//! The tombstone after each delete lets a compacted topic forget the row and makes any table
//! built on the topic ([`table()`]) drop it. Tombstone lines in the input (`null`, an empty line,
//! or a keyed record with a null value for an already deleted row) add nothing.
//!
//! **Replays.** Debezium delivers at least once; an event whose database position is not newer
//! than the last one applied to its key is dropped ([`keys::KeyStates`], [`SourcePosition`]).
//!
//! * [`event`] — parsing a line (envelope, wrapped, record, flattened forms).
//! * [`decoder`] — keys, primary-key changes, tombstones, replays → [`CdcRecord`]s.
//! * [`keys`] — canonical row keys and per-key state.
//! * [`position`] — database positions.
//! * [`table()`] — a [`brook_streams`] `KTable` of rows from such a topic.

pub mod decoder;
pub mod event;
pub mod keys;
pub mod position;
pub mod table;

pub use decoder::{CdcDecoder, CdcRecord, LineOutcome};
pub use keys::{key_from_document, key_from_row};
pub use position::SourcePosition;
pub use table::{key_string, table};

/// The operation of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `c`: a row was inserted.
    Create,
    /// `u`: a row was updated.
    Update,
    /// `d`: a row was deleted.
    Delete,
    /// `r`: a row was read by a snapshot.
    Read,
    /// `t`: the table was truncated.
    Truncate,
    /// `m`: a logical-decoding message (Postgres `pg_logical_emit_message`).
    Message,
}

impl Op {
    /// Parses Debezium's one-letter code.
    pub fn from_code(code: &str) -> Option<Op> {
        Some(match code {
            "c" => Op::Create,
            "u" => Op::Update,
            "d" => Op::Delete,
            "r" => Op::Read,
            "t" => Op::Truncate,
            "m" => Op::Message,
            _ => return None,
        })
    }

    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }
}
