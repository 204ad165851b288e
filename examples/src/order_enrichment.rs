//! Orders enriched with customer data: a stream-table join on the customer id.
//!
//! `orders` (key: customer id, JSON order) joined with the `customers` table (key: customer id,
//! JSON customer; updates replace, a null deletes) → `enriched-orders` (JSON).

use anyhow::Result;
use brook_streams::dsl::StreamsBuilder;
use serde::{Deserialize, Serialize};

use crate::Cluster;

/// An order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: u32,
    /// Item bought.
    pub item: String,
    /// Amount in cents.
    pub amount: u64,
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Name.
    pub name: String,
    /// Loyalty tier.
    pub tier: String,
}

/// An order with its customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedOrder {
    /// Order id.
    pub order_id: u32,
    /// Customer id.
    pub customer_id: String,
    /// Customer name (or "unknown").
    pub customer: String,
    /// Tier at the time of the order.
    pub tier: String,
    /// Amount in cents.
    pub amount: u64,
}

brook_streams::json_data!(Order, Customer, EnrichedOrder);

/// Runs the example; returns the enriched orders in order-id order.
pub fn run(cluster: &Cluster) -> Result<Vec<EnrichedOrder>> {
    let (orders, customers, out) =
        (cluster.name("orders"), cluster.name("customers"), cluster.name("enriched-orders"));
    for t in [&orders, &customers, &out] {
        cluster.create_topic(t, 3)?;
    }
    let json = |v: serde_json::Value| Some(v.to_string());
    cluster.produce(
        &customers,
        &[
            (Some("c1".into()), json(serde_json::json!({"name": "Ada", "tier": "gold"})), 1000),
            (Some("c2".into()), json(serde_json::json!({"name": "Grace", "tier": "silver"})), 1000),
        ],
    )?;
    let order = |id: u32, item: &str, amount: u64| {
        json(serde_json::json!({"id": id, "item": item, "amount": amount}))
    };
    cluster.produce(
        &orders,
        &[
            (Some("c1".into()), order(1, "keyboard", 4999), 2000),
            (Some("c2".into()), order(2, "mouse", 1999), 2001),
            (Some("c3".into()), order(3, "cable", 599), 2002),
        ],
    )?;

    let builder = StreamsBuilder::new();
    let customer_table = builder.table::<String, Customer>(&customers);
    builder
        .stream::<String, Order>(&orders)
        .left_join_table(&customer_table, |o: &Order, c: Option<&Customer>| EnrichedOrder {
            order_id: o.id,
            customer_id: String::new(),
            customer: c.map_or("unknown".into(), |c| c.name.clone()),
            tier: c.map_or("none".into(), |c| c.tier.clone()),
            amount: o.amount,
        })
        .map_values_with_key(|k, mut e| {
            e.customer_id = k.clone();
            e
        })
        .to(&out);
    cluster.run(&cluster.name("enrichment-app"), builder.build()?)?;

    let mut result: Vec<EnrichedOrder> = cluster
        .read_all(&out)?
        .into_iter()
        .map(|r| serde_json::from_slice(&r.value.unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    result.sort_by_key(|e| e.order_id);
    Ok(result)
}
