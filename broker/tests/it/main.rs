//! Broker behaviour tests, gathered into one test binary.

mod crash_property;
mod kill;
mod log;
