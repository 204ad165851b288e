//! Fraud alerts: a payment made within five minutes after a login from a different country
//! than the payment's, on the same account — a windowed stream-stream join.
//!
//! `logins` (key: account, value: country) ⋈ `payments` (key: account, value:
//! "country:amount") within 5 minutes → `fraud-alerts` (text).

use anyhow::Result;
use brook_streams::dsl::{JoinWindows, StreamsBuilder};

use crate::Cluster;

const MINUTE: i64 = 60_000;

/// Runs the example; returns the alerts.
pub fn run(cluster: &Cluster) -> Result<Vec<String>> {
    let (logins, payments, out) =
        (cluster.name("logins"), cluster.name("payments"), cluster.name("fraud-alerts"));
    for t in [&logins, &payments, &out] {
        cluster.create_topic(t, 2)?;
    }
    let t0 = 1_700_000_000_000;
    let rec = |k: &str, v: &str, minutes: f64| {
        (Some(k.to_string()), Some(v.to_string()), t0 + (minutes * MINUTE as f64) as i64)
    };
    cluster
        .produce(&logins, &[rec("acct-1", "FR", 0.0), rec("acct-2", "US", 1.0), rec("acct-3", "BR", 2.0)])?;
    cluster.produce(
        &payments,
        &[
            rec("acct-1", "FR:120", 1.0),  // same country: fine
            rec("acct-1", "NG:9000", 3.0), // different country within 5 minutes: alert
            rec("acct-2", "RU:500", 9.0),  // different country but 8 minutes later: no alert
            rec("acct-3", "BR:40", 2.5),   // fine
            rec("acct-3", "CN:7000", 6.5), // 4.5 minutes after the BR login: alert
        ],
    )?;

    let builder = StreamsBuilder::new();
    let login_stream = builder.stream::<String, String>(&logins);
    builder
        .stream::<String, String>(&payments)
        .join(
            &login_stream,
            |payment: &String, login_country: &String| {
                let (country, amount) = payment.split_once(':').unwrap_or((payment.as_str(), "0"));
                (country != login_country)
                    .then(|| format!("payment of {amount} from {country} after login from {login_country}"))
            },
            JoinWindows::of_time_difference(5 * MINUTE).after(0).grace(10 * MINUTE),
        )
        .filter(|_, alert: &Option<String>| alert.is_some())
        .map_values_with_key(|account, alert| format!("{account}: {}", alert.unwrap_or_default()))
        .to(&out);
    cluster.run(&cluster.name("fraud-app"), builder.build()?)?;

    let mut alerts: Vec<String> = cluster
        .read_all(&out)?
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    alerts.sort();
    Ok(alerts)
}
