//! Behaviour tests of brook-sql, in one test binary:
//!
//! * [`slt`] — the SQL specification: every `.slt` file under `sql/tests/slt/`, run by the
//!   sqllogictest crate against a deterministic engine (brook-cli's tests run it again against a
//!   separate `brook server` process).
//! * [`runtime`] — the same engine on real stream threads over an embedded broker: persistent
//!   queries, push queries, restarts.
//! * [`standalone`] — a registered query's topology run by the caller (own or discarding sink).
//! * [`event_time`] — windows over repartitioned input at several partitions with skewed
//!   producers, checked against the batch answer; idle partitions.

mod event_time;
mod nesting;
mod runtime;
mod slt;
mod standalone;

#[test]
fn sql_logic_tests() {
    slt::run_suite(slt::BrookDb::new);
}
