//! Payments shortly after a login from another country (a stream-stream join):
//! `cargo run --release -p brook-examples --example fraud_alerts`
//! (add `-- --bootstrap HOST:PORT` to run against a `brook server`).

fn main() -> anyhow::Result<()> {
    let cluster = brook_examples::cluster_from_args()?;
    let alerts = brook_examples::fraud_alerts::run(&cluster)?;
    println!("{} alert(s)", alerts.len());
    for a in alerts {
        println!("ALERT {a}");
    }
    Ok(())
}
