//! Behaviour tests of brook-sql, in one test binary:
//!
//! * [`slt`] — the SQL specification: every `.slt` file under `sql/tests/slt/`, run by the
//!   sqllogictest crate against a deterministic engine.
//! * [`runtime`] — the same engine on real stream threads over an embedded broker: persistent
//!   queries, push queries, restarts.

mod runtime;
mod slt;
