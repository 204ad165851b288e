//! The `brook` binary: server, topic tools, produce/consume, and more.
//!
//! Every subcommand lives in its own module under `commands/`. Topic tools work either directly
//! on a data directory (`--data-dir`, no server needed) or against a running server or any Kafka
//! cluster (`--bootstrap HOST:PORT`).

mod commands;
mod connectors;
mod http;
mod shell;
mod target;

use clap::{Parser, Subcommand};

// mimalloc: the engine allocates many small, short-lived buffers per record; glibc's malloc
// spent a quarter of the time of the windowed-aggregation benchmark in consolidation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Brook: a stream-processing platform in one binary — a Kafka-compatible broker, a streams
/// engine and a SQL layer.
#[derive(Debug, Parser)]
#[command(name = "brook", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Brook server (broker) until SIGINT or SIGTERM.
    Server(commands::server::ServerArgs),
    /// Create, list, describe, alter and delete topics.
    #[command(subcommand)]
    Topic(commands::topic::TopicCommand),
    /// Write lines from stdin to a topic, one record per line.
    Produce(commands::produce::ProduceArgs),
    /// Print records from a topic: key, value, partition, offset, timestamp.
    Consume(commands::consume::ConsumeArgs),
    /// Measure broker throughput and latency through the Kafka protocol.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// The SQL shell: an embedded engine on --data-dir, or a server's HTTP API (--server).
    Sql(commands::sql::SqlArgs),
    /// Run connectors (files in and out of topics, Debezium CDC) and show their status.
    #[command(subcommand)]
    Connect(commands::connect::ConnectCommand),
    /// List and describe transactional producers (the transaction coordinator's state).
    #[command(subcommand)]
    Txn(commands::txn::TxnCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => commands::server::run(args).await,
            Command::Topic(cmd) => commands::topic::run(cmd).await,
            Command::Produce(args) => commands::produce::run(args).await,
            Command::Consume(args) => commands::consume::run(args).await,
            Command::Bench(cmd) => commands::bench::run(cmd).await,
            Command::Connect(cmd) => commands::connect::run(cmd).await,
            Command::Sql(args) => commands::sql::run(args).await,
            Command::Txn(cmd) => commands::txn::run(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BROOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,brook=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
