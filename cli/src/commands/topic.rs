//! `brook topic create|list|describe|alter|delete`.

use anyhow::bail;
use clap::Subcommand;

use crate::target::{TargetArgs, close};

/// Topic administration.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name (letters, digits, '.', '_', '-').
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Topic config, e.g. --config cleanup.policy=compact (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_kv)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List topics.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Show partitions, offsets and configs of a topic.
    Describe {
        /// Topic name.
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Change topic configs.
    Alter {
        /// Topic name.
        name: String,
        /// Set a config (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_kv)]
        configs: Vec<(String, String)>,
        /// Reset a config to its default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete: Vec<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Parses `key=value`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}

/// Runs a topic command.
pub async fn run(cmd: TopicCommand) -> anyhow::Result<()> {
    match cmd {
        TopicCommand::Create { name, partitions, configs, target } => {
            let target = target.open()?;
            let pairs: Vec<(&str, &str)> = configs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let created = target.cluster().create_topic(&name, partitions, &pairs);
            close(target)?;
            created?;
            println!("Created topic {name} with {partitions} partition(s).");
        }
        TopicCommand::List { target } => {
            let target = target.open()?;
            let names = target.cluster().list_topics();
            close(target)?;
            for n in names? {
                println!("{n}");
            }
        }
        TopicCommand::Describe { name, target } => {
            let target = target.open()?;
            let info = target.cluster().describe_topic(&name);
            close(target)?;
            let info = info?;
            println!("Topic: {}\tPartitions: {}", info.name, info.partitions.len());
            for p in &info.partitions {
                print!(
                    "  Partition: {}\tLogStart: {}\tLogEnd: {}",
                    p.partition, p.log_start_offset, p.log_end_offset
                );
                if let (Some(size), Some(segments)) = (p.size_bytes, p.segments) {
                    print!("\tSize: {size} B\tSegments: {segments}");
                }
                println!();
            }
            println!("  Configs:");
            for c in &info.configs {
                let marker = if c.is_default { "" } else { "  (set)" };
                println!("    {}={}{marker}", c.name, c.value);
            }
        }
        TopicCommand::Alter { name, configs, delete, target } => {
            if configs.is_empty() && delete.is_empty() {
                bail!("nothing to change: give --config KEY=VALUE or --delete-config KEY");
            }
            let mut changes: Vec<(&str, Option<&str>)> =
                configs.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
            changes.extend(delete.iter().map(|k| (k.as_str(), None)));
            let target = target.open()?;
            let altered = target.cluster().alter_topic_config(&name, &changes);
            close(target)?;
            altered?;
            println!("Updated configs of {name}.");
        }
        TopicCommand::Delete { name, target } => {
            let target = target.open()?;
            let deleted = target.cluster().delete_topic(&name);
            close(target)?;
            deleted?;
            println!("Deleted topic {name}.");
        }
    }
    Ok(())
}
