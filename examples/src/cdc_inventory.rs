//! Change data capture into tables: a shop database's Debezium change events (files under
//! `examples/data/cdc/`) are ingested into topics by file source connectors, read back as
//! tables of rows with the Rust DSL, joined, and aggregated continuously.
//!
//! ```text
//!  data/cdc/customers/*.json ─► source ─► inventory.customers ─► customers table ──────────┐
//!  data/cdc/products/*.json  ─► source ─► inventory.products  ─► products table ───────┐    │
//!  data/cdc/orders/*.json    ─► source ─► inventory.orders    ─► orders table          │    │
//!                                         (a changelog stream)    │ join product (FK) ──┘    │
//!                                                                 │ join customer (FK) ──────┘
//!                                                                 ▼
//!                                             enriched orders ─► inventory.enriched_orders
//!                                                 │ per-order contribution deltas
//!                                                 ├─► units and revenue by category
//!                                                 └─► revenue by country
//! ```
//!
//! The aggregates are continuous: every insert, update or delete of an order, and every
//! change of a product's price or a customer's country, updates them. They converge to what
//! `SELECT category, SUM(quantity), SUM(quantity * price_cents) FROM orders JOIN products …
//! GROUP BY category` gives on the database's final state.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use brook_connect::debezium::{key_string, table};
use brook_connect::{ConnectorDefinition, ConnectorKind, ConnectorManager, ConnectorState};
use brook_streams::dsl::StreamsBuilder;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Cluster;

/// A row of `inventory.customers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Primary key.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Country code.
    pub country: String,
}

/// A row of `inventory.products`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Primary key.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Current price in cents.
    pub price_cents: i64,
    /// Weight in kg.
    pub weight: f64,
}

/// A row of `inventory.orders`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Primary key.
    pub order_number: i64,
    /// Days since 1970-01-01.
    pub order_date: i64,
    /// Customer id.
    pub purchaser: i64,
    /// Units ordered.
    pub quantity: i64,
    /// Product id.
    pub product_id: i64,
}

/// An order with its product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The order.
    pub order: Order,
    /// Product name.
    pub product: String,
    /// Product category.
    pub category: String,
    /// Current unit price.
    pub price_cents: i64,
}

/// An order with its product and customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnrichedOrder {
    /// Order number.
    pub order_number: i64,
    /// Customer name, or "unknown" for a customer that was deleted.
    pub customer: String,
    /// Customer country, or "unknown".
    pub country: String,
    /// Product name.
    pub product: String,
    /// Product category.
    pub category: String,
    /// Units.
    pub quantity: i64,
    /// Quantity × current price.
    pub amount_cents: i64,
}

/// A change to the totals of one category and one country.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Category.
    pub category: String,
    /// Country.
    pub country: String,
    /// Units to add (negative to remove).
    pub units: i64,
    /// Cents to add.
    pub amount_cents: i64,
}

/// What one order currently contributes, and the deltas its last change caused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The order as last seen (`None` once deleted).
    pub last: Option<EnrichedOrder>,
    /// Totals changes caused by the last update.
    pub deltas: Vec<Delta>,
}

impl Contribution {
    /// The contribution after the order changed to `new`: retract the old, add the new.
    pub fn next(self, new: Option<EnrichedOrder>) -> Contribution {
        let as_delta = |o: &EnrichedOrder, sign: i64| Delta {
            category: o.category.clone(),
            country: o.country.clone(),
            units: sign * o.quantity,
            amount_cents: sign * o.amount_cents,
        };
        let mut deltas = Vec::new();
        if let Some(old) = &self.last {
            deltas.push(as_delta(old, -1));
        }
        if let Some(n) = &new {
            deltas.push(as_delta(n, 1));
        }
        Contribution { last: new, deltas }
    }
}

/// Running totals of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Units.
    pub units: i64,
    /// Revenue in cents.
    pub amount_cents: i64,
}

brook_streams::json_data!(Customer, Product, Order, OrderLine, EnrichedOrder, Delta, Contribution, Totals);

/// What the example computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Records ingested per table topic (events in, records out, dead-lettered).
    pub ingested: Vec<(String, u64, u64, u64)>,
    /// The enriched orders as they are now, by order number.
    pub orders: BTreeMap<i64, EnrichedOrder>,
    /// Units and revenue by category (groups whose totals fell to zero are left out).
    pub by_category: BTreeMap<String, Totals>,
    /// Revenue by country.
    pub by_country: BTreeMap<String, Totals>,
}

/// Ingests the CDC files under `data` (customers/, products/, orders/) and runs the topology.
pub fn run(cluster: &Cluster, data: &Path) -> Result<Report> {
    let topic = |t: &str| cluster.name(&format!("inventory.{t}"));
    let (customers_t, products_t, orders_t) = (topic("customers"), topic("products"), topic("orders"));

    // 1. Ingest: one file source per table directory, run to the end of the files.
    let manager = ConnectorManager::standalone(cluster.topics());
    let sources = [
        ("customers", &customers_t, Some("id")), // envelope lines: the key column is configured
        ("products", &products_t, None),         // record dumps: key documents give the key
        ("orders", &orders_t, Some("order_number")), // schema-wrapped envelopes
    ];
    for (dir, topic, key) in sources {
        let path = data.join(dir);
        let mut props = vec![
            ("connector", "file".to_string()),
            ("path", path.to_string_lossy().into_owned()),
            ("format", "debezium_json".to_string()),
            ("topic", topic.clone()),
            ("pattern", "*.json".to_string()),
            ("mode", "once".to_string()),
        ];
        if let Some(k) = key {
            props.push(("key", k.to_string()));
        }
        manager.create(ConnectorDefinition::new(&cluster.name(dir), ConnectorKind::Source, props)?)?;
    }
    if !manager.wait_until_finished(std::time::Duration::from_secs(120)) {
        bail!("ingestion did not finish");
    }
    let mut ingested = Vec::new();
    for s in manager.list() {
        if let ConnectorState::Failed(reason) = &s.state {
            bail!("source {} failed: {reason}", s.name);
        }
        ingested.push((s.topic.clone(), s.metrics.records_in, s.metrics.records_out, s.metrics.dlq));
    }
    manager.shutdown();

    // 2. Tables of rows, joined by foreign key, and continuous aggregates over the result.
    let (enriched_t, category_t, country_t) =
        (topic("enriched_orders"), topic("totals_by_category"), topic("totals_by_country"));
    for t in [&enriched_t, &category_t, &country_t] {
        cluster.create_topic(t, 1)?;
    }
    let b = StreamsBuilder::new();
    let customers = table::<String, Customer>(&b, &customers_t);
    let products = table::<String, Product>(&b, &products_t);
    let orders = table::<String, Order>(&b, &orders_t);
    let enriched = orders
        .join_on_foreign_key(
            &products,
            |o: &Order| key_string(&json!({ "id": o.product_id })),
            |o: &Order, p: &Product| OrderLine {
                order: o.clone(),
                product: p.name.clone(),
                category: p.category.clone(),
                price_cents: p.price_cents,
            },
        )
        .left_join_on_foreign_key(
            &customers,
            |l: &OrderLine| key_string(&json!({ "id": l.order.purchaser })),
            |l: &OrderLine, c: Option<&Customer>| EnrichedOrder {
                order_number: l.order.order_number,
                customer: c.map_or("unknown".into(), |c| format!("{} {}", c.first_name, c.last_name)),
                country: c.map_or("unknown".into(), |c| c.country.clone()),
                product: l.product.clone(),
                category: l.category.clone(),
                quantity: l.order.quantity,
                amount_cents: l.order.quantity * l.price_cents,
            },
        );
    let changes = enriched.to_stream();
    changes.to(&enriched_t);
    let deltas = changes
        .group_by_key()
        .aggregate(Contribution::default, |_, new: Option<EnrichedOrder>, acc: Contribution| acc.next(new))
        .to_stream()
        .flat_map_values(|c: Option<Contribution>| c.map(|c| c.deltas).unwrap_or_default());
    let add = |_: &String, d: Delta, t: Totals| Totals {
        units: t.units + d.units,
        amount_cents: t.amount_cents + d.amount_cents,
    };
    deltas
        .group_by(|_, d: &Delta| d.category.clone())
        .aggregate(Totals::default, add)
        .to_stream()
        .to(&category_t);
    deltas
        .group_by(|_, d: &Delta| d.country.clone())
        .aggregate(Totals::default, add)
        .to_stream()
        .to(&country_t);
    cluster.run(&cluster.name("cdc-inventory-app"), b.build()?)?;

    // 3. Read the results back: the last value per key is the current state.
    let mut orders = BTreeMap::new();
    for r in cluster.read_all(&enriched_t)? {
        let key: serde_json::Value =
            serde_json::from_slice(&r.key.unwrap_or_default()).context("order key")?;
        let number = key["order_number"].as_i64().context("order number in the key")?;
        match r.value {
            Some(v) => orders.insert(number, serde_json::from_slice(&v)?),
            None => orders.remove(&number),
        };
    }
    Ok(Report {
        ingested,
        orders,
        by_category: latest_totals(cluster, &category_t)?,
        by_country: latest_totals(cluster, &country_t)?,
    })
}

fn latest_totals(cluster: &Cluster, topic: &str) -> Result<BTreeMap<String, Totals>> {
    let mut totals = BTreeMap::new();
    for r in cluster.read_all(topic)? {
        let key = String::from_utf8(r.key.unwrap_or_default())?;
        match r.value.map(|v| serde_json::from_slice::<Totals>(&v)).transpose()? {
            Some(t) => totals.insert(key, t),
            None => totals.remove(&key),
        };
    }
    totals.retain(|_, t: &mut Totals| *t != Totals::default());
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected results are what `examples/data/cdc/generate.py` prints for the final state.
    #[test]
    fn cdc_into_joined_tables_and_continuous_aggregates() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cdc");
        let report = run(&Cluster::embedded().unwrap(), &data).unwrap();
        let ingested: Vec<(u64, u64, u64)> =
            report.ingested.iter().map(|(_, i, o, d)| (*i, *o, *d)).collect();
        // (lines read, records written, dead-lettered) for customers, orders, products.
        assert_eq!(ingested, vec![(12, 12, 0), (15, 14, 0), (14, 14, 0)]);
        assert_eq!(
            report.orders.keys().copied().collect::<Vec<_>>(),
            vec![10001, 10002, 10003, 10005, 10006, 10007, 10008, 10009, 10010]
        );
        assert_eq!(report.orders[&10003].customer, "unknown", "George Bailey's account was deleted");
        assert_eq!(report.orders[&10008].customer, "Edward Walker", "found under his new id 1013");
        let t = |units, amount_cents| Totals { units, amount_cents };
        let by_category: Vec<(&str, Totals)> =
            report.by_category.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            by_category,
            vec![("apparel", t(3, 14597)), ("tools", t(9, 15291)), ("vehicles", t(7, 110993)),]
        );
        let by_country: Vec<(&str, i64)> =
            report.by_country.iter().map(|(k, v)| (k.as_str(), v.amount_cents)).collect();
        assert_eq!(
            by_country,
            vec![("FR", 2798), ("JP", 9998), ("UK", 31996), ("US", 83596), ("unknown", 12493)]
        );
    }
}
