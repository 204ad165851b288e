//! `brook server`: opens the broker on a data directory and serves until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use brook_broker::{Broker, BrokerConfig};
use clap::Args;

/// Options of `brook server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Directory for topics, offsets and metadata.
    #[arg(long, default_value = "./brook-data")]
    pub data_dir: PathBuf,
    /// Partitions given to topics created automatically.
    #[arg(long, default_value_t = 1)]
    pub default_partitions: i32,
    /// Do not create unknown topics when clients ask for them.
    #[arg(long)]
    pub no_auto_create_topics: bool,
    /// Fsync data nobody waits for at least this often, in ms (acks=all always waits).
    #[arg(long, default_value_t = 1000)]
    pub flush_interval_ms: u64,
    /// How often retention and compaction run, in ms.
    #[arg(long, default_value_t = 30_000)]
    pub cleaner_interval_ms: u64,
}

/// Runs the server until a shutdown signal arrives, then closes the broker cleanly.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(&args.data_dir);
    config.default_partitions = args.default_partitions;
    config.auto_create_topics = !args.no_auto_create_topics;
    config.flush_interval = Some(Duration::from_millis(args.flush_interval_ms.max(1)));
    config.cleaner_interval = Duration::from_millis(args.cleaner_interval_ms.max(10));
    let broker = Broker::open(config).with_context(|| format!("opening {}", args.data_dir.display()))?;
    tracing::info!(data_dir = %args.data_dir.display(), "brook server started");
    eprintln!("brook server running on {} (Ctrl-C to stop)", args.data_dir.display());
    wait_for_shutdown().await?;
    eprintln!("shutting down");
    broker.close().context("closing the broker")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_shutdown() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
