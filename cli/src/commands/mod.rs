//! One module per `brook` subcommand.

pub mod bench;
pub mod consume;
pub mod produce;
pub mod server;
pub mod topic;
