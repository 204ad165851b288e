//! One module per `brook` subcommand.

pub mod bench;
pub mod bench_txn;
pub mod connect;
pub mod consume;
pub mod e2e;
pub mod nexmark;
pub mod produce;
pub mod server;
pub mod sql;
pub mod topic;
pub mod txn;
