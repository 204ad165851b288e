//! Topic-level configuration, with Kafka's names and defaults.
//!
//! A topic stores only the configs that were set explicitly ([`TopicConfig::overrides`]); the
//! typed [`LogConfig`] is derived from them and the broker defaults whenever the overrides change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What happens to old data: deletion by retention, compaction by key, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Delete whole segments past `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// Keep only the latest record per key.
    pub compact: bool,
}

/// Whether record timestamps come from the producer or from the broker at append time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    CreateTime,
    /// Overwrite them with the broker's clock.
    LogAppendTime,
}

/// Typed, validated topic configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `cleanup.policy`
    pub cleanup_policy: CleanupPolicy,
    /// `retention.ms` (-1 = unlimited)
    pub retention_ms: i64,
    /// `retention.bytes` (-1 = unlimited)
    pub retention_bytes: i64,
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`
    pub min_compaction_lag_ms: i64,
    /// `max.message.bytes`: largest accepted record batch.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`
    pub timestamp_type: TimestampType,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime timestamp may be.
    pub timestamp_after_max_ms: i64,
}

/// One known config: its name, default, and documentation (as DescribeConfigs reports it).
pub struct ConfigDef {
    /// Kafka config name.
    pub name: &'static str,
    /// Default value as a string.
    pub default: &'static str,
    /// What it controls.
    pub doc: &'static str,
}

/// All topic configs Brook understands.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef { name: "cleanup.policy", default: "delete", doc: "delete, compact, or delete,compact" },
    ConfigDef {
        name: "retention.ms",
        default: "604800000",
        doc: "delete segments older than this (-1: never)",
    },
    ConfigDef {
        name: "retention.bytes",
        default: "-1",
        doc: "delete old segments beyond this partition size (-1: never)",
    },
    ConfigDef { name: "segment.bytes", default: "1073741824", doc: "roll a new segment file at this size" },
    ConfigDef { name: "segment.ms", default: "604800000", doc: "roll a new segment file after this age" },
    ConfigDef {
        name: "delete.retention.ms",
        default: "86400000",
        doc: "how long compaction keeps tombstones",
    },
    ConfigDef {
        name: "min.compaction.lag.ms",
        default: "0",
        doc: "records younger than this are not compacted",
    },
    ConfigDef { name: "max.message.bytes", default: "1048588", doc: "largest record batch accepted" },
    ConfigDef { name: "message.timestamp.type", default: "CreateTime", doc: "CreateTime or LogAppendTime" },
    ConfigDef { name: "index.interval.bytes", default: "4096", doc: "bytes between offset index entries" },
    ConfigDef {
        name: "message.timestamp.before.max.ms",
        default: "9223372036854775807",
        doc: "reject CreateTime timestamps older than this many ms before the broker's clock",
    },
    ConfigDef {
        name: "message.timestamp.after.max.ms",
        default: "9223372036854775807",
        doc: "reject CreateTime timestamps more than this many ms ahead of the broker's clock",
    },
];

/// The explicitly set configs of a topic, persisted with its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Config name → value, only for configs that differ from the default.
    pub overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    /// Builds a config from `name=value` pairs, validating each.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut config = TopicConfig::default();
        for (k, v) in pairs {
            config.overrides.insert(k.into(), v.into());
        }
        config.resolve()?;
        Ok(config)
    }

    /// The value in effect for `name` and whether it is the default.
    pub fn get(&self, name: &str) -> Option<(String, bool)> {
        if let Some(v) = self.overrides.get(name) {
            return Some((v.clone(), false));
        }
        TOPIC_CONFIGS.iter().find(|d| d.name == name).map(|d| (d.default.to_string(), true))
    }

    /// Derives the typed configuration, rejecting unknown names and bad values.
    pub fn resolve(&self) -> Result<LogConfig> {
        for name in self.overrides.keys() {
            if !TOPIC_CONFIGS.iter().any(|d| d.name == name) {
                let known: Vec<_> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
                return Err(Error::InvalidConfig(format!(
                    "unknown topic config '{name}'; known configs: {}",
                    known.join(", ")
                )));
            }
        }
        let value = |name: &str| self.get(name).map(|(v, _)| v).unwrap_or_default();
        let int = |name: &str, min: i64| -> Result<i64> {
            let v = value(name);
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidConfig(format!("{name}={v} is not an integer")))?;
            if n < min {
                return Err(Error::InvalidConfig(format!("{name}={n} must be at least {min}")));
            }
            Ok(n)
        };
        let policy = value("cleanup.policy");
        let mut cleanup_policy = CleanupPolicy { delete: false, compact: false };
        for part in policy.split(',').map(str::trim) {
            match part {
                "delete" => cleanup_policy.delete = true,
                "compact" => cleanup_policy.compact = true,
                other => {
                    return Err(Error::InvalidConfig(format!(
                        "cleanup.policy value '{other}' is not delete or compact"
                    )));
                }
            }
        }
        let timestamp_type = match value("message.timestamp.type").as_str() {
            "CreateTime" => TimestampType::CreateTime,
            "LogAppendTime" => TimestampType::LogAppendTime,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "message.timestamp.type '{other}' must be CreateTime or LogAppendTime"
                )));
            }
        };
        Ok(LogConfig {
            cleanup_policy,
            retention_ms: int("retention.ms", -1)?,
            retention_bytes: int("retention.bytes", -1)?,
            segment_bytes: int("segment.bytes", 14)? as u64,
            segment_ms: int("segment.ms", 1)?,
            delete_retention_ms: int("delete.retention.ms", 0)?,
            min_compaction_lag_ms: int("min.compaction.lag.ms", 0)?,
            max_message_bytes: int("max.message.bytes", 0)? as usize,
            timestamp_type,
            index_interval_bytes: int("index.interval.bytes", 0)? as u64,
            timestamp_before_max_ms: int("message.timestamp.before.max.ms", 0)?,
            timestamp_after_max_ms: int("message.timestamp.after.max.ms", 0)?,
        })
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        // The defaults are valid by construction.
        TopicConfig::default().resolve().unwrap_or(LogConfig {
            cleanup_policy: CleanupPolicy { delete: true, compact: false },
            retention_ms: 604_800_000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 604_800_000,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            index_interval_bytes: 4096,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = TopicConfig::from_pairs([("cleanup.policy", "compact,delete"), ("retention.ms", "10")])
            .unwrap()
            .resolve()
            .unwrap();
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        assert_eq!(c.retention_ms, 10);
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(LogConfig::default().max_message_bytes, 1_048_588);
    }

    #[test]
    fn bad_configs_are_rejected_with_a_reason() {
        let e = TopicConfig::from_pairs([("retention.ms", "soon")]).unwrap_err();
        assert!(e.to_string().contains("retention.ms=soon is not an integer"), "{e}");
        let e = TopicConfig::from_pairs([("no.such", "1")]).unwrap_err();
        assert!(e.to_string().contains("unknown topic config 'no.such'"), "{e}");
        assert!(TopicConfig::from_pairs([("cleanup.policy", "archive")]).is_err());
    }
}
