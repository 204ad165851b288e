//! What the four examples must produce, computed from their inputs: brook-examples' tests check
//! it on an embedded broker, brook-cli's tests (which include this file) against a separate
//! `brook server` process.

use std::collections::BTreeMap;

use brook_examples::order_enrichment::EnrichedOrder;
use brook_examples::{Cluster, fraud_alerts, order_enrichment, pageviews, wordcount};

fn expected_wordcount() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for line in wordcount::LINES {
        for w in line.split_whitespace() {
            *m.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    m
}

fn expected_pageviews() -> BTreeMap<(String, i64), i64> {
    let region: BTreeMap<&str, &str> = pageviews::USERS.iter().copied().collect();
    let mut m = BTreeMap::new();
    for (user, _, secs) in pageviews::VIEWS {
        if let Some(r) = region.get(user) {
            *m.entry((r.to_string(), secs / 60 * 60_000)).or_insert(0) += 1;
        }
    }
    m
}

/// Runs the four examples on `cluster` and checks each one's output.
pub fn check_all(cluster: &Cluster) {
    assert_eq!(wordcount::run(cluster).unwrap(), expected_wordcount());
    assert_eq!(pageviews::run(cluster).unwrap(), expected_pageviews());
    let orders = order_enrichment::run(cluster).unwrap();
    let summary: Vec<(u32, &str, &str, &str)> = orders
        .iter()
        .map(|e: &EnrichedOrder| (e.order_id, e.customer_id.as_str(), e.customer.as_str(), e.tier.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![(1, "c1", "Ada", "gold"), (2, "c2", "Grace", "silver"), (3, "c3", "unknown", "none")]
    );
    assert_eq!(
        fraud_alerts::run(cluster).unwrap(),
        vec![
            "acct-1: payment of 9000 from NG after login from FR".to_string(),
            "acct-3: payment of 7000 from CN after login from BR".to_string(),
        ]
    );
}
