//! Page views per region per one-minute tumbling window.
//!
//! `pageviews` (key: user id, value: page) joined with the `users` table (key: user id, value:
//! region) → re-keyed by region → counted in 60 s tumbling windows → `views-per-region`
//! (key: region + window start, as Kafka Streams' windowed serde writes it).

use std::collections::BTreeMap;

use anyhow::Result;
use brook_streams::dsl::{StreamsBuilder, TimeWindows, WindowedSerde};
use brook_streams::serde::serdes;

use crate::Cluster;

const MINUTE: i64 = 60_000;

/// Users and their regions.
pub const USERS: &[(&str, &str)] =
    &[("alice", "europe"), ("bob", "americas"), ("carol", "europe"), ("dave", "asia")];

/// Page views: (user, page, seconds after the first minute boundary).
pub const VIEWS: &[(&str, &str, i64)] = &[
    ("alice", "/home", 5),
    ("bob", "/home", 12),
    ("carol", "/pricing", 30),
    ("alice", "/docs", 55),
    ("dave", "/home", 61),
    ("bob", "/pricing", 75),
    ("alice", "/home", 90),
    ("erin", "/home", 95), // unknown user: dropped by the inner join
    ("carol", "/docs", 130),
];

/// Runs the example; returns `(region, window start) → views`.
pub fn run(cluster: &Cluster) -> Result<BTreeMap<(String, i64), i64>> {
    let (views, users, out) =
        (cluster.name("pageviews"), cluster.name("users"), cluster.name("views-per-region"));
    for t in [&views, &users, &out] {
        cluster.create_topic(t, 2)?;
    }
    let base = 1_700_000_040_000 / MINUTE * MINUTE;
    let user_records: Vec<_> =
        USERS.iter().map(|(u, r)| (Some(u.to_string()), Some(r.to_string()), base)).collect();
    cluster.produce(&users, &user_records)?;
    let view_records: Vec<_> =
        VIEWS.iter().map(|(u, p, s)| (Some(u.to_string()), Some(p.to_string()), base + s * 1000)).collect();
    cluster.produce(&views, &view_records)?;

    let builder = StreamsBuilder::new();
    let regions = builder.table::<String, String>(&users);
    builder
        .stream::<String, String>(&views)
        .join_table(&regions, |_page, region| region.clone())
        .group_by(|_, region| region.clone())
        .windowed_by(TimeWindows::of_size(MINUTE).grace(5 * MINUTE))
        .count()
        .to_stream()
        .to(&out);
    cluster.run(&cluster.name("pageviews-app"), builder.build()?)?;

    let key_serde = WindowedSerde::time(serdes::string(), MINUTE);
    let mut result = BTreeMap::new();
    for r in cluster.read_all(&out)? {
        let key = key_serde.deserialize(r.key.as_deref()).map_err(anyhow::Error::msg)?;
        let count = i64::from_be_bytes(r.value.unwrap_or_default().as_slice().try_into()?);
        result.insert((key.key, key.window.start - base), count);
    }
    Ok(result)
}
