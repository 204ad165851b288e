//! Orders joined with a customers table:
//! `cargo run --release -p brook-examples --example order_enrichment`
//! (add `-- --bootstrap HOST:PORT` to run against a `brook server`).

fn main() -> anyhow::Result<()> {
    let cluster = brook_examples::cluster_from_args()?;
    for e in brook_examples::order_enrichment::run(&cluster)? {
        println!(
            "order {} by {} ({}, {}): {:.2}",
            e.order_id,
            e.customer,
            e.customer_id,
            e.tier,
            e.amount as f64 / 100.0
        );
    }
    Ok(())
}
