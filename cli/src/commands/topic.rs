//! `brook topic create|list|describe|alter|delete`.

use std::time::Duration;

use anyhow::{Context, bail};
use brook_broker::TopicConfig;
use brook_broker::log::config::TOPIC_CONFIGS;
use clap::Subcommand;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::target::{Target, TargetArgs, close, kafka_config};

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
            match target.open()? {
                Target::Local(b) => {
                    b.create_topic(&name, partitions, TopicConfig::from_pairs(configs)?)?;
                    b.close()?;
                }
                Target::Remote(bootstrap) => {
                    let admin = admin(&bootstrap)?;
                    let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
                    for (k, v) in &configs {
                        topic = topic.set(k, v);
                    }
                    let res = admin.create_topics([&topic], &opts()).await?;
                    for r in res {
                        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
                    }
                }
            }
            println!("Created topic {name} with {partitions} partition(s).");
        }
        TopicCommand::List { target } => {
            let target = target.open()?;
            let names = match &target {
                Target::Local(b) => b.topic_names(),
                Target::Remote(bootstrap) => {
                    let consumer: BaseConsumer = kafka_config(bootstrap).create()?;
                    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
                    let mut names: Vec<_> = md.topics().iter().map(|t| t.name().to_string()).collect();
                    names.sort();
                    names
                }
            };
            for n in names {
                println!("{n}");
            }
            close(target)?;
        }
        TopicCommand::Describe { name, target } => {
            let target = target.open()?;
            match &target {
                Target::Local(b) => {
                    let d = b.describe_topic(&name)?;
                    println!(
                        "Topic: {}\tPartitions: {}\tInternal: {}",
                        d.name,
                        d.partitions.len(),
                        d.internal
                    );
                    for p in &d.partitions {
                        println!(
                            "  Partition: {}\tLogStart: {}\tLogEnd: {}\tSize: {} B\tSegments: {}",
                            p.partition, p.log_start_offset, p.log_end_offset, p.size_bytes, p.segments
                        );
                    }
                    print_configs(|k| d.config.get(k));
                }
                Target::Remote(bootstrap) => {
                    let consumer: BaseConsumer = kafka_config(bootstrap).create()?;
                    let md = consumer.fetch_metadata(Some(&name), Duration::from_secs(10))?;
                    let t = md.topics().first().context("no metadata returned")?;
                    if let Some(e) = t.error() {
                        bail!("topic {name}: {e:?}");
                    }
                    println!("Topic: {}\tPartitions: {}", t.name(), t.partitions().len());
                    for p in t.partitions() {
                        let (lo, hi) = consumer.fetch_watermarks(&name, p.id(), Duration::from_secs(10))?;
                        println!(
                            "  Partition: {}\tLeader: {}\tLogStart: {lo}\tLogEnd: {hi}",
                            p.id(),
                            p.leader()
                        );
                    }
                    let admin = admin(bootstrap)?;
                    let res = admin.describe_configs([&ResourceSpecifier::Topic(&name)], &opts()).await?;
                    for r in res {
                        let r = r.map_err(|e| anyhow::anyhow!("describing configs: {e}"))?;
                        println!("  Configs:");
                        for e in r.entries {
                            let marker = if e.is_default { "" } else { "  (set)" };
                            println!("    {}={}{marker}", e.name, e.value.unwrap_or_default());
                        }
                    }
                }
            }
            close(target)?;
        }
        TopicCommand::Alter { name, configs, delete, target } => {
            if configs.is_empty() && delete.is_empty() {
                bail!("nothing to change: give --config KEY=VALUE or --delete-config KEY");
            }
            match target.open()? {
                Target::Local(b) => {
                    let mut changes: Vec<(String, Option<String>)> =
                        configs.into_iter().map(|(k, v)| (k, Some(v))).collect();
                    changes.extend(delete.into_iter().map(|k| (k, None)));
                    b.alter_topic_config(&name, &changes)?;
                    b.close()?;
                }
                Target::Remote(bootstrap) => {
                    // AlterConfigs replaces all overrides, so merge with the current ones.
                    let admin = admin(&bootstrap)?;
                    let res = admin.describe_configs([&ResourceSpecifier::Topic(&name)], &opts()).await?;
                    let mut current: Vec<(String, String)> = Vec::new();
                    for r in res {
                        let r = r.map_err(|e| anyhow::anyhow!("describing configs: {e}"))?;
                        for e in r.entries {
                            if !e.is_default && !e.is_read_only {
                                current.push((e.name, e.value.unwrap_or_default()));
                            }
                        }
                    }
                    current.retain(|(k, _)| !delete.contains(k) && !configs.iter().any(|(c, _)| c == k));
                    current.extend(configs);
                    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&name));
                    for (k, v) in &current {
                        alter = alter.set(k, v);
                    }
                    for r in admin.alter_configs([&alter], &opts()).await? {
                        r.map_err(|(_, e)| anyhow::anyhow!("altering configs: {e}"))?;
                    }
                }
            }
            println!("Updated configs of {name}.");
        }
        TopicCommand::Delete { name, target } => {
            match target.open()? {
                Target::Local(b) => {
                    b.delete_topic(&name)?;
                    b.close()?;
                }
                Target::Remote(bootstrap) => {
                    for r in admin(&bootstrap)?.delete_topics(&[&name], &opts()).await? {
                        r.map_err(|(t, e)| anyhow::anyhow!("deleting {t}: {e}"))?;
                    }
                }
            }
            println!("Deleted topic {name}.");
        }
    }
    Ok(())
}

fn print_configs(get: impl Fn(&str) -> Option<(String, bool)>) {
    println!("  Configs:");
    for def in TOPIC_CONFIGS {
        if let Some((value, is_default)) = get(def.name) {
            let marker = if is_default { "" } else { "  (set)" };
            println!("    {}={value}{marker}", def.name);
        }
    }
}

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    kafka_config(bootstrap).create().with_context(|| format!("connecting to {bootstrap}"))
}

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}
