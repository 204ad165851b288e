//! One module per `brook` subcommand.

pub mod bench;
pub mod connect;
pub mod consume;
pub mod e2e;
pub mod nexmark;
pub mod produce;
pub mod server;
pub mod sql;
pub mod topic;
