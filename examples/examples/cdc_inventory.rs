//! Debezium change events of a shop database, ingested into tables, joined and aggregated:
//! `cargo run --release -p brook-examples --example cdc_inventory`
//! (add `-- --bootstrap HOST:PORT` to run against a `brook server`;
//! `-- --data DIR` to read another directory laid out like `examples/data/cdc`).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let data = match args.iter().position(|a| a == "--data") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--data needs a directory"))?),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/cdc"),
    };
    let cluster = brook_examples::cluster_from_args()?;
    let report = brook_examples::cdc_inventory::run(&cluster, &data)?;
    println!("ingested (topic: events read -> records written, dead-lettered):");
    for (topic, read, written, dlq) in &report.ingested {
        println!("  {topic}: {read} -> {written}, {dlq}");
    }
    println!("\norders now:");
    for o in report.orders.values() {
        println!(
            "  #{} {:<16} {:<8} {:>2} x {:<18} ({:<8}) {:>9.2}",
            o.order_number,
            o.customer,
            o.country,
            o.quantity,
            o.product,
            o.category,
            o.amount_cents as f64 / 100.0
        );
    }
    println!("\nunits and revenue by category (continuous aggregate):");
    for (category, t) in &report.by_category {
        println!("  {category:<10} {:>4} units {:>10.2}", t.units, t.amount_cents as f64 / 100.0);
    }
    println!("\nrevenue by country (continuous aggregate):");
    for (country, t) in &report.by_country {
        println!("  {country:<10} {:>10.2}", t.amount_cents as f64 / 100.0);
    }
    Ok(())
}
