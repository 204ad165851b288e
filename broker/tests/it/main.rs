//! Broker behaviour tests, gathered into one test binary.

mod crash_property;
mod hardening;
mod kill;
mod log;
mod protocol_codec;
mod protocol_server;
mod rdkafka_client;
mod server_support;
mod transactions;
mod txn_protocol;
