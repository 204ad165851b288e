//! Page views per region per minute: `cargo run --release -p brook-examples --example pageviews`
//! (add `-- --bootstrap HOST:PORT` to run against a `brook server`).

fn main() -> anyhow::Result<()> {
    let cluster = brook_examples::cluster_from_args()?;
    let views = brook_examples::pageviews::run(&cluster)?;
    println!("{:<10} {:>12} views", "region", "window (s)");
    for ((region, start), count) in &views {
        println!("{region:<10} {:>5}..{:<5} {count}", start / 1000, start / 1000 + 60);
    }
    Ok(())
}
