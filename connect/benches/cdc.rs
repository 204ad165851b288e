//! CDC benchmarks.
fn main() {}
