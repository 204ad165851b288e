//! Engine semantics through the deterministic test driver, and the runtime against a real
//! embedded broker — gathered into one test binary.

mod aggregate;
mod changelog;
mod event_time;
mod joins;
mod runtime;
mod state;
mod stateless;
mod tables;
mod windows;

use brook_streams::serde::{SerdeRef, serdes};

/// String serde.
pub fn s() -> SerdeRef<String> {
    serdes::string()
}

/// i64 serde.
pub fn i() -> SerdeRef<i64> {
    serdes::i64()
}
