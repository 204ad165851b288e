//! libFuzzer entry of the `sql_statement` target: see `src/sql_statement.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brook_fuzz::sql_statement::run(data));
